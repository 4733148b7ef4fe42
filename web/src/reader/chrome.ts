// The reading screen's frame, shared by EPUB and PDF: a bar on top (back, title, contents, search, settings,
// bookmark), the stage the book fills, a bar below (page buttons and progress), and panels that open over the
// stage. The stage is sized by the layout (a full-screen grid), never by counting rows.

import { h } from "../dom";
import { t, type MessageKey } from "../i18n";

export interface ReaderChrome {
  root: HTMLElement;
  stage: HTMLElement;
  container: HTMLElement;
  previous: HTMLButtonElement;
  next: HTMLButtonElement;
  progress: HTMLElement;
  topActions: HTMLElement;
  /** Adds a panel opened by a button in the top bar; returns the panel's body. */
  panel(id: string, label: MessageKey, buttonText: string): HTMLElement;
  closePanels(): void;
  /** Shows or hides the bars ("immersive" reading); undefined toggles. */
  immersive(on?: boolean): void;
  setTheme(theme: string): void;
}

/** How a book is being read: from the shelf with a loan (positions and bookmarks kept), or as an open title by
 * anyone (back to its title page; nothing personal kept). */
export interface ReadingVisit {
  back?: string;
  personal?: boolean;
}

export function readerChrome(bookTitle: string, language: string | undefined, publicationId: string, visit: ReadingVisit = {}): ReaderChrome {
  const container = h("div", { id: "reading-container", "data-publication": publicationId });
  const stage = h("div", { class: "reader-stage", id: "reader-stage" }, container);
  const previous = h("button", { type: "button", id: "page-previous", class: "page-button" }, h("span", { "aria-hidden": "true" }, "‹ "), t("previous")) as HTMLButtonElement;
  const next = h("button", { type: "button", id: "page-next", class: "page-button" }, t("next"), h("span", { "aria-hidden": "true" }, " ›")) as HTMLButtonElement;
  const progress = h("p", { class: "progress", id: "reading-progress", "aria-live": "polite" });
  const topActions = h("div", { class: "reader-actions" });
  const top = h(
    "div",
    { class: "reader-bar reader-top" },
    h("a", { href: visit.back ?? "/shelf", class: "reader-back", id: "reader-back" }, h("span", { "aria-hidden": "true" }, "← "), t(visit.back ? "backToTitle" : "backToShelf")),
    h("h1", { id: "page-title", tabindex: -1, class: "reader-title", lang: language || undefined }, bookTitle),
    topActions,
  );
  const bottom = h("div", { class: "reader-bar reader-bottom" }, previous, progress, next);
  const root = h("div", { class: "reader", id: "reader", "data-theme": "light" }, top, stage, bottom);
  const panels: Array<[HTMLElement, HTMLButtonElement]> = [];

  const closePanels = (): void => {
    for (const [panel, button] of panels) {
      panel.hidden = true;
      button.setAttribute("aria-expanded", "false");
    }
  };
  const immersive = (on?: boolean): void => {
    const value = on ?? !root.classList.contains("immersive");
    if (value) closePanels();
    root.classList.toggle("immersive", value);
  };
  const panel = (id: string, label: MessageKey, buttonText: string): HTMLElement => {
    const body = h("div", { class: "panel-body" });
    const close = h("button", { type: "button", class: "secondary panel-close" }, t("close")) as HTMLButtonElement;
    const section = h("section", { class: "reader-panel", id, hidden: true, "aria-labelledby": `${id}-title` }, h("div", { class: "panel-head" }, h("h2", { id: `${id}-title` }, t(label)), close), body);
    const button = h("button", { type: "button", class: "secondary", "aria-controls": id, "aria-expanded": "false", id: `${id}-open` }, buttonText) as HTMLButtonElement;
    button.addEventListener("click", () => {
      const open = section.hidden;
      closePanels();
      section.hidden = !open;
      button.setAttribute("aria-expanded", String(open));
      if (open) (section.querySelector("input, select, button:not(.panel-close)") as HTMLElement | null)?.focus();
    });
    close.addEventListener("click", () => {
      closePanels();
      button.focus();
    });
    panels.push([section, button]);
    topActions.append(button);
    root.append(section);
    return body;
  };
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || !root.isConnected) return;
    if (panels.some(([section]) => !section.hidden)) closePanels();
    else immersive(false);
  });
  return {
    root,
    stage,
    container,
    previous,
    next,
    progress,
    topActions,
    panel,
    closePanels,
    immersive,
    setTheme: (theme) => {
      root.dataset.theme = theme;
    },
  };
}

/** A group of choices shown as toggle buttons (radio semantics), e.g. light / sepia / dark. */
export function choices<T extends string>(
  name: string,
  label: MessageKey,
  options: Array<[T, string]>,
  current: T,
  onChoose: (value: T) => void,
): HTMLElement {
  const group = h("fieldset", { class: "choices", id: `choose-${name}` }, h("legend", {}, t(label)));
  for (const [value, text] of options) {
    const id = `choose-${name}-${value}`;
    const input = h("input", { type: "radio", name, id, value, checked: value === current }) as HTMLInputElement;
    input.addEventListener("change", () => {
      if (input.checked) onChoose(value);
    });
    group.append(h("div", { class: "choice" }, input, h("label", { for: id }, text)));
  }
  return group;
}

export interface PageTurns {
  left: () => void;
  right: () => void;
  backward: () => void;
  forward: () => void;
}

/** Page-turning keys anywhere in the reading screen (and inside the book's frames, which forward them):
 * arrows turn towards their side (right-to-left books included), Page Up/Down and Space by reading order. */
export function pageKeys(event: KeyboardEvent, turns: PageTurns): boolean {
  const target = event.target as HTMLElement | null;
  if (target && /^(INPUT|SELECT|TEXTAREA|BUTTON|A)$/.test(target.tagName) && event.key === " ") return false;
  if (target && /^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName)) return false;
  const turn = { ArrowLeft: turns.left, ArrowRight: turns.right, PageUp: turns.backward, PageDown: turns.forward, " ": turns.forward }[event.key];
  if (!turn) return false;
  event.preventDefault();
  turn();
  return true;
}
