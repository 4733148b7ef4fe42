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

/** Runs ``work`` with ``control`` (a button, or a form whose submit buttons it finds) busy: disabled, marked
 * aria-busy and saying so, so a slow answer is never sent twice. Resolves to what ``work`` gave. */
export async function busy<T>(control: HTMLElement, work: () => Promise<T>, label?: string): Promise<T> {
  const buttons = control instanceof HTMLFormElement ? [...control.querySelectorAll<HTMLButtonElement>("button[type=submit], button:not([type])")] : [control];
  const saved = buttons.map((button) => [button, button.textContent, (button as HTMLButtonElement).disabled] as const);
  control.setAttribute("aria-busy", "true");
  for (const button of buttons) {
    (button as HTMLButtonElement).disabled = true;
    if (label) button.textContent = label;
  }
  try {
    return await work();
  } finally {
    control.removeAttribute("aria-busy");
    for (const [button, text, disabled] of saved) {
      (button as HTMLButtonElement).disabled = disabled;
      if (label) button.textContent = text;
    }
  }
}

/** A button that runs ``work`` busy, and reports its failure in words the reader understands. */
export function actionButton(label: string, work: () => Promise<void>, attributes: Record<string, string> = {}): HTMLButtonElement {
  const button = h("button", { type: "button", ...attributes }, label) as HTMLButtonElement;
  button.addEventListener("click", () => {
    void busy(button, work).catch((error: unknown) => reportProblem(error));
  });
  return button;
}

let reporter: (error: unknown) => void = (error) => announce(String(error), "error");

/** Set once by the app shell: how failures are put into words (see problems.ts). */
export function setProblemReporter(report: (error: unknown) => void): void {
  reporter = report;
}

export function reportProblem(error: unknown): void {
  reporter(error);
}
