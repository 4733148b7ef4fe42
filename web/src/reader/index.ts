// The reading screen: a loan's publication opens full screen, as EPUB (Readium's navigator) or as PDF pages.
// A loan downloaded to this device opens from its stored copy (with or without a connection), only while the
// loan lasts by the device's clock; lending's fresh answer, when there is one, decides first.

import { api, ApiError, failure, type Loan, session, title } from "../api";
import { announce } from "../dom";
import { t } from "../i18n";
import { offlineBase } from "../offline/download";
import { AppProblem } from "../offline/messages";
import { forgetBook, lastServerTime, offlineBook, type OfflineBook, openable } from "../offline/store";
import { activeLoans, isNetworkFailure } from "../offline/sync";
import { go, type Render } from "../router";
import { closeEpub, readEpub } from "./epub";
import { readPdf } from "./pdf";
import { openReading, publicationBase, readerRoot, savedPosition, streamingToken } from "./session";

export async function closeReader(): Promise<void> {
  await closeEpub();
}

/** The stored copy of ``loanId`` if it may open now; deletes one that may not and says why. */
async function storedCopy(loanId: string): Promise<OfflineBook | null> {
  const copy = await offlineBook(loanId);
  if (!copy || copy.patronId !== session("patron")?.subject) return null; // another reader's download on a shared device
  let current: Awaited<ReturnType<typeof activeLoans>> | null = null;
  try {
    current = await activeLoans();
  } catch (error) {
    if (!isNetworkFailure(error)) throw error;
  }
  if (current?.fresh && !current.loans.some((loan) => loan.id === loanId)) {
    await forgetBook(loanId);
    throw new AppProblem("problemCopyEnded");
  }
  const verdict = openable(copy, Date.now(), await lastServerTime());
  if (verdict === "clock") throw new AppProblem("problemClock");
  if (verdict !== "ok") {
    await forgetBook(loanId);
    throw new AppProblem(verdict === "ended" ? "problemCopyEnded" : "problemNotDownloaded");
  }
  return copy;
}

async function readStored(main: HTMLElement, copy: OfflineBook): Promise<void> {
  const base = offlineBase(copy.loanId);
  const book = { title: copy.title, language: copy.language };
  const manifestJson = (await (await fetch(`${base}manifest.json`)).json()) as { metadata?: { numberOfPages?: number } };
  const saved = await savedPosition(copy.publicationId);
  main.dataset.offline = "true";
  if (copy.kind === "pdf") {
    await readPdf(main, book, base, copy.publicationId, manifestJson.metadata?.numberOfPages ?? copy.pages ?? 1, saved);
    if (saved) announce(t("positionRestored"));
    return;
  }
  await readEpub(main, book, base, manifestJson, copy.publicationId, saved);
}

export const readPage: Render = async (main, [loanId]) => {
  const copy = await storedCopy(loanId!);
  if (copy) return readStored(main, copy);
  let loans: Loan[];
  try {
    loans = await api<Loan[]>("lending", "/v1/loans", { auth: "patron" });
  } catch (error) {
    throw isNetworkFailure(error) ? new AppProblem("problemNotDownloaded") : error;
  }
  const loan = loans.find((candidate) => candidate.id === loanId);
  if (!loan) throw new ApiError(404, "loan-not-active");
  const book = await title(loan.title_id);
  if (book.local_document) {
    // a scanned local document reads in the documents viewer, as watermarked page images of this loan
    go(`/documents/${encodeURIComponent(book.id)}?loan=${encodeURIComponent(loan.id)}`, { replace: true });
    return;
  }
  let token;
  try {
    token = await streamingToken(loan);
  } catch (error) {
    throw isNetworkFailure(error) ? new AppProblem("problemNotDownloaded") : error;
  }
  const base = publicationBase(token, loan);
  const manifestJson = (await (await fetch(`${base}manifest.json`)).json()) as {
    readingOrder?: Array<{ type?: string }>;
    metadata?: { numberOfPages?: number };
  };
  const saved = await savedPosition(token.publication_id);
  if (manifestJson.readingOrder?.[0]?.type === "application/pdf") {
    await readPdf(main, book, base, token.publication_id, manifestJson.metadata?.numberOfPages ?? 1, saved);
    if (saved) announce(t("positionRestored"));
    return;
  }
  await readEpub(main, book, base, manifestJson, token.publication_id, saved);
};

/** An open title (/read/open/{title}): anyone reads it, signed in or not, with no loan and no token. Lending counts
 * the reading and answers its open streaming root ({reader}/v1/read/open-{publication}/); a scanned local document
 * opens in the documents viewer instead. Nothing personal is kept (no position, no bookmarks). */
export const openReadPage: Render = async (main, [titleId]) => {
  const book = await title(titleId!);
  if (book.local_document) {
    // the documents viewer counts the reading itself: counted here too, it would count twice
    go(`/documents/${encodeURIComponent(book.id)}`, { replace: true });
    return;
  }
  const base = readerRoot((await openReading(book.id)).manifest_url);
  const opened = await fetch(`${base}manifest.json`);
  if (!opened.ok) throw await failure(opened); // closed again in the meantime
  const manifestJson = (await opened.json()) as { readingOrder?: Array<{ type?: string }>; metadata?: { numberOfPages?: number } };
  const publicationId = book.publication_id ?? book.id;
  const visit = { back: `/title/${book.id}`, personal: false };
  if (manifestJson.readingOrder?.[0]?.type === "application/pdf") {
    await readPdf(main, book, base, publicationId, manifestJson.metadata?.numberOfPages ?? 1, undefined, visit);
    return;
  }
  await readEpub(main, book, base, manifestJson, publicationId, undefined, visit);
};
