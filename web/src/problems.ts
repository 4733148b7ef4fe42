// Failures in the reader's words: every problem type the services answer with has a message of the app's own
// (the server's English detail is never shown); an unknown type falls back to what its HTTP status means.

import { ApiError } from "./api";
import { announce, h } from "./dom";
import { AppProblem } from "./offline/messages";
import { problemMessage, t } from "./i18n";

export function messageFor(error: unknown): string {
  if (error instanceof AppProblem) return error.message; // the app's own failures (offline reading), in words already
  if (error instanceof ApiError) {
    const known = problemMessage(error.problem);
    if (known) return known;
    if (error.status === 401) return t("problemStatus401");
    if (error.status === 403) return t("problemStatus403");
    if (error.status === 404) return t("problemStatus404");
    if (error.status === 409 || error.status === 412) return t("problemStatus409");
    if (error.status === 413) return t("problemStatus413");
    if (error.status === 422 || error.status === 400) return t("problemStatus400");
    if (error.status === 429) return t("problemStatus429");
    if (error.status >= 500) return t("problemStatus500");
    return t("problemUnknown");
  }
  if (error instanceof TypeError) return t("problemNetwork"); // fetch could not reach the server
  return t("problemUnknown");
}

export function reportFailure(error: unknown): void {
  console.warn(error);
  announce(messageFor(error), "error");
}

/** What a reading page that could not open shows in place of the book (the full-screen page is otherwise empty and
 * the header hidden): why, and the way back. The live region keeps saying it for screen readers; on screen it is
 * said once, here. */
export function readingProblem(error: unknown, back: { href: string; label: string }): HTMLElement {
  document.getElementById("status")?.classList.add("visually-hidden");
  return h(
    "section",
    { class: "reading-problem" },
    h("h1", { id: "page-title", tabindex: -1 }, messageFor(error)),
    h("a", { href: back.href, class: "button primary" }, back.label),
  );
}
