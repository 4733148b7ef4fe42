// What the patron sees of offline reading and installing: on each loan, "Tải về để đọc ngoại tuyến" (size first,
// then a progress bar) or what is stored with a delete button; a list of downloaded books with the storage used;
// a banner while the device is offline; and an install hint where the browser offers one.

import { type Loan, session, type Title } from "../api";
import { announce, busy, h, reportProblem } from "../dom";
import { formatDate } from "../i18n";
import { isOnline, onConnection } from "./connection";
import { download, forgetBook, offlineBook, plan, storageUse } from "./download";
import { isPartnerLoan } from "../reader/session";
import { formatBytes, ot } from "./messages";
import { offlineBooks, type OfflineBook } from "./store";
import { downloading } from "./sync";

/** The offline part of a loan's card on the shelf. */
export function loanOfflineControls(loan: Loan, book: Title): HTMLElement {
  const box = h("div", { class: "offline", "data-offline": loan.id });
  if (isPartnerLoan(loan)) return box; // another deployment's title: read from the lender's reader, online only for now
  if (book.online_only) {
    box.append(h("p", { class: "meta" }, ot("onlineOnlyNotStored")));
    return box;
  }
  void offlineBook(loan.id).then((stored) => show(box, loan, book, stored?.complete ? stored : undefined));
  return box;
}

function show(box: HTMLElement, loan: Loan, book: Title, stored: OfflineBook | undefined): void {
  if (stored) {
    const remove = h("button", { type: "button", class: "quiet", "data-offline-delete": loan.id }, ot("deleteCopy")) as HTMLButtonElement;
    remove.addEventListener("click", () => {
      void busy(remove, async () => {
        await forgetBook(loan.id);
        announce(ot("copyDeleted"));
        show(box, loan, book, undefined);
      }).catch(reportProblem);
    });
    box.dataset.stored = "true";
    box.replaceChildren(h("p", { class: "meta offline-stored" }, ot("downloaded", { size: formatBytes(stored.bytes), until: formatDate(stored.loanEndsAt) })), h("div", { class: "actions" }, remove));
    return;
  }
  delete box.dataset.stored;
  const start = h("button", { type: "button", class: "secondary", "data-offline-download": loan.id }, ot("download")) as HTMLButtonElement;
  start.addEventListener("click", () => {
    void busy(start, async () => {
      const chosen = await plan(loan, book);
      const go = h("button", { type: "button", class: "primary", "data-offline-confirm": loan.id }, ot("downloadStart", { size: formatBytes(chosen.bytes) })) as HTMLButtonElement;
      const cancel = h("button", { type: "button", class: "quiet" }, ot("downloadCancel"));
      cancel.addEventListener("click", () => show(box, loan, book, undefined));
      go.addEventListener("click", () => void run(box, loan, book, chosen));
      box.replaceChildren(h("p", { class: "meta", id: `offline-size-${loan.id}` }, ot("downloadSize", { size: formatBytes(chosen.bytes) })), h("div", { class: "actions" }, go, cancel));
      go.focus();
    }, ot("downloadSizing")).catch(reportProblem);
  });
  box.replaceChildren(h("div", { class: "actions" }, start));
}

async function run(box: HTMLElement, loan: Loan, book: Title, chosen: Awaited<ReturnType<typeof plan>>): Promise<void> {
  const bar = h("progress", { max: String(chosen.bytes), value: "0", "aria-label": ot("downloadProgressLabel"), id: `offline-progress-${loan.id}` }) as HTMLProgressElement;
  const label = h("p", { class: "meta", "aria-live": "polite" }, ot("downloadProgress", { done: formatBytes(0), total: formatBytes(chosen.bytes) }));
  box.setAttribute("aria-busy", "true");
  box.replaceChildren(label, bar);
  downloading.add(loan.id);
  try {
    const stored = await download(chosen, session("patron")?.subject ?? "", (done, total) => {
      bar.max = total;
      bar.value = done;
      label.textContent = ot("downloadProgress", { done: formatBytes(done), total: formatBytes(total) });
    });
    announce(ot("downloadDone"));
    show(box, loan, book, stored);
  } catch (error) {
    reportProblem(error);
    show(box, loan, book, undefined);
  } finally {
    downloading.delete(loan.id);
    box.removeAttribute("aria-busy");
  }
}

/** "Sách đã tải về máy này": the storage used, each downloaded book with a delete button. */
export function storageSection(): HTMLElement {
  const list = h("ul", { class: "offline-books", id: "offline-books" });
  const used = h("p", { class: "meta", id: "offline-storage-used" });
  const section = h("section", { id: "offline-storage", "aria-labelledby": "offline-storage-title" }, h("h2", { id: "offline-storage-title" }, ot("storageTitle")), used, list);
  const fill = async (): Promise<void> => {
    const patronId = session("patron")?.subject;
    const books = (await offlineBooks()).filter((book) => book.complete && book.patronId === patronId);
    const { usage, quota } = await storageUse();
    used.textContent = usage !== undefined && quota !== undefined ? ot("storageUsed", { used: formatBytes(usage), quota: formatBytes(quota) }) : ot("storageUnknown");
    list.replaceChildren(
      ...(books.length
        ? books.map((book) => {
            const remove = h("button", { type: "button", class: "quiet", "data-offline-delete": book.loanId }, ot("deleteCopy")) as HTMLButtonElement;
            remove.addEventListener("click", () => {
              void busy(remove, async () => {
                await forgetBook(book.loanId);
                announce(ot("copyDeleted"));
                await fill();
              }).catch(reportProblem);
            });
            return h("li", { "data-offline-book": book.loanId }, h("span", { lang: book.language || undefined }, book.title), " · ", h("span", { class: "meta" }, formatBytes(book.bytes)), " ", remove);
          })
        : [h("li", { class: "meta" }, ot("storageNone"))]),
    );
  };
  void fill().catch(reportProblem);
  return section;
}

/** A line at the top of every screen while the services cannot be reached (offline/connection.ts). */
export function watchConnection(): void {
  const banner = h("p", { id: "offline-banner", class: "offline-banner", role: "status", hidden: true }, ot("offlineBanner"));
  document.body.prepend(banner);
  const update = (): void => {
    banner.textContent = ot("offlineBanner");
    banner.hidden = isOnline();
    document.documentElement.dataset.online = String(isOnline());
  };
  onConnection(update);
  document.addEventListener("sachso:synced", (event) => announce((event as CustomEvent<string>).detail));
  update();
}

interface InstallPrompt extends Event {
  prompt(): Promise<void>;
  userChoice: Promise<{ outcome: "accepted" | "dismissed" }>;
}

const INSTALL_DISMISSED = "sachso.install-dismissed";

/** Where the browser offers to install the app (``beforeinstallprompt``), a small hint with an install button;
 * "not now" is remembered. Never shown while a book is open. */
export function offerInstall(): void {
  window.addEventListener("beforeinstallprompt", (event) => {
    event.preventDefault();
    if (localStorage.getItem(INSTALL_DISMISSED)) return;
    const offer = event as InstallPrompt;
    const install = h("button", { type: "button", class: "primary", id: "install-app" }, ot("install"));
    const later = h("button", { type: "button", class: "quiet" }, ot("installLater"));
    const hint = h("aside", { id: "install-hint", class: "install-hint", "aria-label": ot("install") }, h("p", {}, ot("installHint")), h("div", { class: "actions" }, install, later));
    install.addEventListener("click", () => {
      hint.remove();
      void offer.prompt();
    });
    later.addEventListener("click", () => {
      localStorage.setItem(INSTALL_DISMISSED, new Date().toISOString());
      hint.remove();
    });
    document.getElementById("main")?.before(hint);
  });
}
