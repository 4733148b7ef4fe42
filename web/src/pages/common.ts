// Pieces several patron screens share: the signed-in check, a book's cover, due countdowns, one-tap borrow.

import { api, baseUrl, type Hold, type Loan, session, type Title } from "../api";
import { announce, h } from "../dom";
import { formatDate, t } from "../i18n";
import { go } from "../router";

/** Shows a sign-in link and answers false when no patron is signed in. */
export function requirePatron(main: HTMLElement): boolean {
  if (session("patron")) return true;
  main.append(h("p", {}, h("a", { href: `/signin?next=${encodeURIComponent(window.location.pathname)}`, class: "button" }, t("signInToContinue"))));
  return false;
}

type CoverOf = Pick<Title, "id" | "title" | "authors"> & Partial<Pick<Title, "publication_id" | "format">>;

/** A book's cover: the publication's own (reader's /v1/covers), over a drawn one (title and author on a colour of
 * the title's own) that shows while it loads and stays for books whose file gives none. */
export function cover(item: CoverOf, size: "small" | "large" = "small"): HTMLElement {
  let hash = 0;
  for (const char of item.id) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  const hue = hash % 360;
  const drawn = h(
    "div",
    { class: `cover ${size}`, style: `--cover-hue: ${hue}`, "aria-hidden": "true" },
    h("span", { class: "cover-title" }, item.title),
    item.authors[0] ? h("span", { class: "cover-author" }, item.authors[0]) : null,
  );
  if (item.publication_id && item.format) {
    const image = h("img", { class: "cover-image", alt: "", loading: "lazy", decoding: "async", src: `${baseUrl("reader")}/v1/covers/${encodeURIComponent(item.publication_id)}` }) as HTMLImageElement;
    image.addEventListener("error", () => image.remove()); // no cover in the file: the drawn one stays
    drawn.append(image);
  }
  return drawn;
}

/** A book in a list: its cover beside what matters about it (title, state, actions). */
export function bookCard(attributes: Record<string, string>, book: CoverOf, ...details: Array<HTMLElement | null>): HTMLElement {
  return h("li", { class: "book-card", ...attributes }, cover(book), h("div", { class: "book-info" }, ...details));
}

/** "còn 3 ngày", "còn 5 giờ": how long until ``iso``. */
export function timeLeft(iso: string): string {
  const hours = (new Date(iso).getTime() - Date.now()) / 3_600_000;
  if (hours <= 0) return t("timeUp");
  if (hours < 48) return t("hoursLeft", { n: Math.max(1, Math.floor(hours)) });
  return t("daysLeft", { n: Math.floor(hours / 24) });
}

/** Borrows ``titleId`` (a ready hold's reserved copy, when she has one) and opens her shelf. */
export async function borrowNow(titleId: string, period?: string): Promise<Loan> {
  // One key per tap: if the answer is lost and the request sent again, lending lends once.
  const headers = { "Idempotency-Key": crypto.randomUUID() };
  const loan = await api<Loan>("lending", "/v1/loans", { auth: "patron", headers, body: { title_id: titleId, ...(period ? { period } : {}) } });
  announce(t("borrowed", { due: formatDate(loan.due_at) }));
  go("/shelf");
  return loan;
}

export async function myLoansAndHolds(): Promise<{ loans: Loan[]; holds: Hold[] }> {
  const [loans, holds] = await Promise.all([
    api<Loan[]>("lending", "/v1/loans", { auth: "patron" }),
    api<Hold[]>("lending", "/v1/holds", { auth: "patron" }),
  ]);
  return { loans, holds };
}
