// Keeping the device and the services in step: reading positions and bookmarks made offline wait in a queue and
// are sent when the connection returns (the reader service keeps the latest by device time, so a late write
// never overwrites a newer one from another device); downloaded copies whose loan ended, was returned or
// revoked are deleted the next time the app runs (and whenever the shelf is shown).

import { api, type Loan, loadConfig, raw, session } from "../api";
import { reportProblem } from "../dom";
import { onConnection } from "./connection";
import { ot } from "./messages";
import { dequeue, enqueue, forgetBook, keepBook, keepLocalPosition, lastServerTime, localPosition, offlineBooks, openable, queued, type QueuedWrite, sawServerTime } from "./store";

/** True when ``error`` says the network could not be reached (fetch failed), not that a service refused. */
export function isNetworkFailure(error: unknown): boolean {
  return error instanceof TypeError || !navigator.onLine;
}

/** Reports a failure, unless it is only that the device is offline (reading a downloaded book then is normal). */
export function reportUnlessOffline(error: unknown): void {
  if (!isNetworkFailure(error)) reportProblem(error);
}

const PATHS: Record<QueuedWrite["kind"], (publicationId: string) => [string, string]> = {
  position: (id) => ["PUT", `/v1/reading/positions/${encodeURIComponent(id)}`],
  bookmark: (id) => ["POST", `/v1/reading/annotations/${encodeURIComponent(id)}`],
};

async function send(kind: QueuedWrite["kind"], publicationId: string, body: Record<string, unknown>): Promise<void> {
  const [method, path] = PATHS[kind](publicationId);
  await api("reader", path, { auth: "patron", method, body });
}

/** Sends a position or bookmark, or keeps it to send when the connection returns. */
export async function sendOrQueue(kind: QueuedWrite["kind"], publicationId: string, body: Record<string, unknown>): Promise<void> {
  if (kind === "position") await keepLocalPosition(publicationId, body.locator);
  try {
    await send(kind, publicationId, body);
  } catch (error) {
    if (!isNetworkFailure(error)) throw error;
    const patronId = session("patron")?.subject ?? "";
    await enqueue({ id: crypto.randomUUID(), patronId, kind, publicationId, body, queuedAt: new Date().toISOString() });
  }
}

/** The last position this device saved or queued for a publication (for opening a book offline). */
export async function devicePosition(publicationId: string): Promise<unknown> {
  return localPosition(publicationId);
}

let flushing: Promise<number> | null = null;

/** Sends what was queued offline, oldest first; what still cannot be sent stays queued. Answers how many went. */
export function flushQueue(): Promise<number> {
  flushing ??= (async () => {
    const patronId = session("patron")?.subject;
    let sent = 0;
    for (const write of await queued()) {
      if (write.patronId !== patronId) continue; // another patron's, sent when she signs in here again
      try {
        await send(write.kind, write.publicationId, write.body);
      } catch (error) {
        if (isNetworkFailure(error)) break;
        reportProblem(error); // refused (the loan ended, say): dropped, as the server decided
      }
      await dequeue(write.id);
      sent++;
    }
    return sent;
  })().finally(() => {
    flushing = null;
  });
  return flushing;
}

/** The patron's active loans, and whether the answer is fresh from lending (not the service worker's copy). */
export async function activeLoans(): Promise<{ loans: Loan[]; fresh: boolean }> {
  const response = await raw("lending", "/v1/loans", { auth: "patron" });
  const fresh = response.headers.get("X-Sachso-From-Cache") === null;
  if (fresh) await sawServerTime(Date.parse(response.headers.get("Date") ?? ""));
  return { loans: (await response.json()) as Loan[], fresh };
}

/** Deletes every copy that may no longer be read: unfinished downloads, loans past their end by this device's
 * clock, and — when lending has just answered — loans of this patron that are no longer active (returned,
 * revoked, expired). A renewed loan's copy keeps its bytes and takes the new end. */
export async function sweep(current?: { loans: Loan[]; fresh: boolean }): Promise<void> {
  const patronId = session("patron")?.subject;
  const serverTime = await lastServerTime();
  const active = current?.fresh ? new Map(current.loans.map((loan) => [loan.id, loan])) : null;
  for (const book of await offlineBooks()) {
    const verdict = openable(book, Date.now(), serverTime);
    if (verdict === "ended" || verdict === "incomplete") {
      if (verdict === "incomplete" && downloading.has(book.loanId)) continue;
      await forgetBook(book.loanId);
      continue;
    }
    if (!active || book.patronId !== patronId) continue;
    const loan = active.get(book.loanId);
    if (!loan || loan.status !== "active") await forgetBook(book.loanId);
    else if (Date.parse(loan.due_at) !== Date.parse(book.loanEndsAt)) await keepBook({ ...book, loanEndsAt: loan.due_at });
  }
}

/** Loans being downloaded right now (their incomplete records are not swept away under them). */
export const downloading = new Set<string>();

async function catchUp(): Promise<void> {
  try {
    if (session("patron")) {
      const sent = await flushQueue();
      if (sent) document.dispatchEvent(new CustomEvent("sachso:synced", { detail: ot("synced") }));
      await sweep(await activeLoans());
    } else await sweep();
  } catch (error) {
    if (!isNetworkFailure(error)) reportProblem(error);
    await sweep().catch(() => undefined);
  }
}

/** Registers the service worker, then catches up: queued writes sent, ended copies deleted. Runs at every start
 * and whenever the connection returns; ``data-offline-sweep="done"`` on <html> says the start's pass ended. */
export async function startOffline(): Promise<void> {
  if ("serviceWorker" in navigator && import.meta.env.PROD) {
    await navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch((error: unknown) => console.warn("service worker", error));
  }
  onConnection((online) => {
    if (online) void catchUp(); // back online: what was queued goes, ended copies go
  });
  await loadConfig().catch(() => undefined); // the services' addresses (main.ts loads them too; cached by the worker)
  await catchUp();
  document.documentElement.dataset.offlineSweep = "done";
}


