// A tiny element builder: text is always set as text (never parsed as HTML), so catalogue data cannot inject markup.

type Child = Node | string | null | undefined | false;
type Attributes = Record<string, string | number | boolean | EventListener | undefined>;

export function h(tag: string, attributes: Attributes = {}, ...children: Child[]): HTMLElement {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") element.addEventListener(name.replace(/^on/, ""), value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child);
  }
  return element;
}

/** A labelled form field: the label is tied to the input, and help text is announced with it. */
export function field(label: string, input: HTMLElement, help?: string): HTMLElement {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  const helpId = help ? `${id}-help` : undefined;
  if (helpId) input.setAttribute("aria-describedby", helpId);
  return h("div", { class: "field" }, h("label", { for: id }, label), input, help ? h("small", { id: helpId }, help) : null);
}

let statusTimer: number | undefined;

/** Says something in the live region (read out by screen readers) and shows it briefly. */
export function announce(message: string, kind: "info" | "error" = "info"): void {
  const region = document.getElementById("status");
  if (!region) return;
  region.textContent = message;
  region.className = `status ${kind}`;
  window.clearTimeout(statusTimer);
  statusTimer = window.setTimeout(() => {
    region.textContent = "";
    region.className = "status";
  }, 8000);
}
