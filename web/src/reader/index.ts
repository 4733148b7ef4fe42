// The reading screen: a loan's publication opens full screen, as EPUB (Readium's navigator) or as PDF pages.

import { api, ApiError, type Loan, title } from "../api";
import { announce } from "../dom";
import { t } from "../i18n";
import type { Render } from "../router";
import { closeEpub, readEpub } from "./epub";
import { readPdf } from "./pdf";
import { publicationBase, savedPosition, streamingToken } from "./session";

export async function closeReader(): Promise<void> {
  await closeEpub();
}

export const readPage: Render = async (main, [loanId]) => {
  const loans = await api<Loan[]>("lending", "/v1/loans", { auth: "patron" });
  const loan = loans.find((candidate) => candidate.id === loanId);
  if (!loan) throw new ApiError(404, "loan-not-active");
  const book = await title(loan.title_id);
  const token = await streamingToken(loan.id);
  const base = publicationBase(token);
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
