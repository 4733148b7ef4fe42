// What this device keeps for offline reading, shared by the app and its service worker: one record per
// downloaded loan in IndexedDB (idb-keyval), the book's bytes in a Cache Storage cache of its own, the last
// server time seen (the device's clock must not have gone back past it), and the queue of reading positions
// and bookmarks made offline.

import { createStore, del, entries, get, set, update } from "idb-keyval";

export interface OfflineBook {
  loanId: string;
  patronId: string;
  publicationId: string;
  titleId: string;
  title: string;
  language: string;
  kind: "epub" | "pdf";
  /** When the loan ends (RFC 3339): the copy never opens after it, by the device's clock. */
  loanEndsAt: string;
  bytes: number;
  /** PDF: the pages' count and the width they were stored at. */
  pages?: number;
  width?: number;
  storedAt: string;
  /** False while the download runs: an incomplete copy never opens and is deleted at the next start. */
  complete: boolean;
}

export interface QueuedWrite {
  id: string;
  patronId: string;
  kind: "position" | "bookmark";
  publicationId: string;
  body: Record<string, unknown>;
  queuedAt: string;
}

const books = createStore("sachso-offline-books", "books");
const meta = createStore("sachso-offline-meta", "meta");
const queue = createStore("sachso-offline-queue", "queue");

/** Where the app reads a downloaded loan from: the service worker answers these paths from Cache Storage. */
export const OFFLINE_PREFIX = "/offline/";
export const API_CACHE = "sachso-api";

export function cacheName(loanId: string): string {
  return `sachso-book-${loanId}`;
}

export function offlinePath(loanId: string): string {
  return `${OFFLINE_PREFIX}${encodeURIComponent(loanId)}/`;
}

export const offlineBook = (loanId: string): Promise<OfflineBook | undefined> => get<OfflineBook>(loanId, books);
export const keepBook = (book: OfflineBook): Promise<void> => set(book.loanId, book, books);

export async function offlineBooks(): Promise<OfflineBook[]> {
  return (await entries<string, OfflineBook>(books)).map(([, book]) => book);
}

/** Deletes a downloaded copy: its bytes first, then its record. */
export async function forgetBook(loanId: string): Promise<void> {
  await caches.delete(cacheName(loanId));
  await del(loanId, books);
}

/** The latest server time seen (epoch ms), from the Date header of the services' answers. */
export const lastServerTime = async (): Promise<number> => (await get<number>("server-time", meta)) ?? 0;

export async function sawServerTime(epochMs: number): Promise<void> {
  if (!Number.isFinite(epochMs) || epochMs <= 0) return;
  await update<number>("server-time", (known) => Math.max(known ?? 0, epochMs), meta);
}

/** How far the device's clock may lag the last server time seen before it counts as turned back (clock drift
 * between phone and server, and the Date header's one-second resolution). */
const CLOCK_SLACK_MS = 5 * 60_000;

export type Openable = "ok" | "ended" | "clock" | "incomplete";

/** Whether a stored copy may open now, by the device's clock: never at or past the loan's end, and never when
 * the clock reads earlier than the last server time seen (turning the clock back must not extend a loan). */
export function openable(book: OfflineBook, now: number, serverTime: number): Openable {
  if (!book.complete) return "incomplete";
  if (now >= Date.parse(book.loanEndsAt)) return "ended";
  if (now + CLOCK_SLACK_MS < serverTime) return "clock";
  return "ok";
}

export async function enqueue(write: QueuedWrite): Promise<void> {
  await set(write.id, write, queue);
}

export async function queued(): Promise<QueuedWrite[]> {
  return (await entries<string, QueuedWrite>(queue)).map(([, write]) => write).sort((a, b) => a.queuedAt.localeCompare(b.queuedAt));
}

export const dequeue = (id: string): Promise<void> => del(id, queue);

/** The last reading position this device knows for a publication (saved or queued), for reading offline. */
export const localPosition = (publicationId: string): Promise<unknown> => get(`position:${publicationId}`, meta);
export const keepLocalPosition = (publicationId: string, locator: unknown): Promise<void> => set(`position:${publicationId}`, locator, meta);
