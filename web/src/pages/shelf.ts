// "Tủ sách của tôi": loans with the time left, Read and Renew first; holds with their place in the queue and,
// when ready, Borrow now in one tap. /loans and /holds (links in emails) open the same shelf at that part.

import { api, baseUrl, type Hold, type Loan, session, type Title, title } from "../api";
import { actionButton, announce, h } from "../dom";
import { formatDate, t } from "../i18n";
import { currentPath, type Render } from "../router";
import { bookCard, borrowNow, myLoansAndHolds, requirePatron, timeLeft } from "./common";
import { failure } from "../api";
import { forgetBook } from "../offline/store";
import { loanOfflineControls } from "../offline";

async function rerender(main: HTMLElement): Promise<void> {
  main.replaceChildren();
  await shelfPage(main, []);
}

/** Stands in for a title whose record could not be read just now (one failed request never hides the shelf):
 * the loan or hold still shows, with its actions, its heading saying so (a plain cover); offline copies are
 * offered once the record reads again. */
function unreadTitle(id: string): Title {
  return { id, publication_id: null, title: "", subtitle: "", authors: [], language: "", subjects: [], library_ids: [] };
}

function loanCard(main: HTMLElement, loan: Loan, book: Title): HTMLElement {
  const renew = actionButton(t("renew"), async () => {
    const renewed = await api<Loan>("lending", `/v1/loans/${loan.id}/renew`, { auth: "patron", method: "POST" });
    announce(t("renewed", { due: formatDate(renewed.due_at) }));
    await rerender(main);
  }, { class: "secondary" });
  const giveBack = actionButton(t("returnEarly"), async () => {
    if (!window.confirm(t("confirmReturn"))) return;
    await api<Loan>("lending", `/v1/loans/${loan.id}/return`, { auth: "patron", method: "POST" });
    await forgetBook(loan.id); // a returned book's download goes at once
    announce(t("returned"));
    await rerender(main);
  }, { class: "quiet" });
  const licence = book.online_only ? null : actionButton(t("lcpDownload"), () => downloadLicence(loan.id, main), { class: "quiet", "data-licence": loan.id });
  return bookCard(
    { "data-loan": loan.id },
    book,
    h("h3", { lang: book.language || undefined }, book.title || t("titleUnavailable")),
    h("p", { class: "due" }, h("strong", {}, timeLeft(loan.due_at)), " · ", t("due", { due: formatDate(loan.due_at) })),
    h("div", { class: "actions" }, h("a", { href: `/read/${loan.id}`, class: "button primary" }, t("read")), renew, giveBack, licence),
    book.publication_id === null ? null : loanOfflineControls(loan, book),
  );
}

function holdCard(main: HTMLElement, hold: Hold, book: Title): HTMLElement {
  const state = hold.suspended_until ? "suspended" : hold.state;
  const act = (label: string, path: string, method: string, body?: unknown, kind = "secondary"): HTMLElement =>
    actionButton(label, async () => {
      await api("lending", path, { auth: "patron", method, body });
      await rerender(main);
    }, { class: kind });
  return bookCard(
    { "data-hold": hold.id, "data-state": state },
    book,
    h("h3", { lang: book.language || undefined }, book.title || t("titleUnavailable")),
    hold.state === "ready"
      ? h("p", { class: "ready" }, h("strong", {}, t("state_ready")), " · ", t("holdReady", { until: formatDate(hold.ready_until) }))
      : h("p", { class: "position" }, t("position", { position: hold.position }), " · ", hold.estimated_wait_days === null ? t("waitUnknown") : t("estimatedWait", { days: Math.max(1, Math.ceil(hold.estimated_wait_days)) })),
    hold.suspended_until ? h("p", {}, t("holdSuspended", { until: formatDate(hold.suspended_until) })) : null,
    h(
      "div",
      { class: "actions" },
      hold.state === "ready" ? actionButton(t("borrowNow"), async () => void (await borrowNow(hold.title_id)), { class: "primary", "data-borrow": hold.title_id }) : null,
      hold.state !== "ready" && !hold.suspended_until ? act(t("suspend"), `/v1/holds/${hold.id}/suspend`, "POST", { days: 7 }) : null,
      hold.suspended_until ? act(t("resume"), `/v1/holds/${hold.id}/resume`, "POST") : null,
      act(t("cancelHold"), `/v1/holds/${hold.id}`, "DELETE", undefined, "quiet"),
    ),
  );
}

export const shelfPage: Render = async (main) => {
  main.append(h("h1", { id: "page-title", tabindex: -1 }, t("shelfTitle")));
  if (!requirePatron(main)) return;
  const { loans, holds } = await myLoansAndHolds();
  const read = (id: string): Promise<Title> => title(id).catch(() => unreadTitle(id));
  const books = await Promise.all([...loans.map((loan) => read(loan.title_id)), ...holds.map((hold) => read(hold.title_id))]);
  const loanItems = loans.map((loan, index) => loanCard(main, loan, books[index]!));
  const holdItems = holds.map((hold, index) => holdCard(main, hold, books[loans.length + index]!));
  const holdsHeading = h("h2", { id: "holds-title", tabindex: -1 }, t("holdsTitle"));
  main.append(
    h("section", { id: "loans", "aria-labelledby": "loans-title" }, h("h2", { id: "loans-title" }, t("loansTitle")), loans.length ? h("ul", { class: "book-list" }, ...loanItems) : h("p", {}, t("noLoans"), " ", h("a", { href: "/" }, t("findBooks")))),
    h("section", { id: "holds", "aria-labelledby": "holds-title" }, holdsHeading, holds.length ? h("ul", { class: "book-list" }, ...holdItems) : h("p", {}, t("noHolds"))),
  );
  if (currentPath() === "/holds") {
    holdsHeading.id = "page-title-holds";
    holdsHeading.scrollIntoView();
  }
};

/** The LCP licence of a loan, for reading apps (Thorium, Aldiko…): asks for a reading passphrase the first time. */
async function downloadLicence(loanId: string, main: HTMLElement): Promise<void> {
  const token = session("patron")?.access_token;
  const fetchLicence = (): Promise<Response> => fetch(`${baseUrl("drm")}/v1/loans/${loanId}/license`, { headers: { Authorization: `Bearer ${token}` } });
  let response = await fetchLicence();
  if (response.status === 409 && ((await response.clone().json()) as { type?: string }).type?.endsWith("/lcp-passphrase-missing")) {
    const passphrase = window.prompt(t("lcpPassphrasePrompt"));
    if (!passphrase) return;
    const hint = window.prompt(t("lcpHintPrompt"));
    if (!hint) return;
    await api("drm", "/v1/lcp/passphrase", { auth: "patron", method: "PUT", body: { passphrase, hint } });
    response = await fetchLicence();
  }
  if (!response.ok) throw await failure(response);
  const link = h("a", { href: URL.createObjectURL(await response.blob()), download: `${loanId}.lcpl` }) as HTMLAnchorElement;
  main.append(link);
  link.click();
  link.remove();
  announce(t("lcpDownloaded"));
  main.append(h("p", { class: "meta" }, h("a", { href: `${baseUrl("drm")}/v1/lcp/hint`, target: "_blank", rel: "noopener" }, t("lcpHint"))));
}

