// "Tải về để đọc ngoại tuyến": a loan's publication stored on this device. An EPUB keeps its streaming manifest,
// its positions list and every resource the manifest lists; a PDF keeps its page images at this device's width
// with their text layers. The size is worked out first, the bytes go into a Cache Storage cache of the loan's
// own, and the record (with the loan's end) is written complete only when every byte is in. The streaming token
// is the same short-lived one the online reader uses: a download that outlasts it asks for another.

import { ApiError, baseUrl, type Loan, raw, type StreamingToken, type Title } from "../api";
import { isPartnerLoan } from "../reader/session";
import { AppProblem } from "./messages";
import { cacheName, forgetBook, keepBook, offlineBook, type OfflineBook, offlinePath, sawServerTime } from "./store";

interface Grant extends StreamingToken {
  loan_ends_at: string | null;
  online_only: boolean;
}

interface Item {
  /** The path inside the publication ("manifest.json", "OEBPS/ch1.xhtml", "~sachso/pages/3"). */
  path: string;
  /** For PDF pages: the query the reader service needs (the width). */
  query?: string;
  size: number;
}

export interface Plan {
  loan: Loan;
  book: Title;
  kind: "epub" | "pdf";
  items: Item[];
  bytes: number;
  loanEndsAt: string;
  pages?: number;
  width?: number;
  grant: Grant;
  /** Bodies already fetched while sizing (a PDF's sampled pages), not fetched twice. */
  fetched: Map<string, Blob>;
}

async function grantFor(loanId: string): Promise<Grant> {
  for (let attempt = 0; ; attempt++) {
    try {
      const response = await raw("drm", `/v1/loans/${encodeURIComponent(loanId)}/streaming-token`, { auth: "patron", method: "POST" });
      await sawServerTime(Date.parse(response.headers.get("Date") ?? ""));
      return (await response.json()) as Grant;
    } catch (error) {
      // DRM learns of a new loan through an event: give it a moment right after borrowing (as the reader does).
      if (!(error instanceof ApiError) || ![404, 409].includes(error.status) || attempt >= 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

function onlineBase(grant: Grant): string {
  return baseUrl("reader") + new URL(grant.manifest_url).pathname.replace(/manifest\.json$/, "");
}

/** The offline reader's base URL for a loan (absolute: Readium's fetcher resolves hrefs against it). */
export function offlineBase(loanId: string): string {
  return new URL(offlinePath(loanId), window.location.origin).href;
}

/** A PDF page's width for this device, as the reader asks for it (see reader/pdf.ts). */
export function deviceWidth(): number {
  return Math.min(3000, Math.ceil((Math.max(window.innerWidth, 300) * window.devicePixelRatio) / 100) * 100);
}

function withoutFragment(href: string): string {
  return href.split("#")[0] ?? href;
}

async function pool<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

/** Fetches from the publication, asking for a new streaming token once if the current one has run out. */
class Source {
  constructor(
    private grant: Grant,
    private readonly loanId: string,
  ) {}

  async get(path: string, query = "", method = "GET", headers?: Record<string, string>): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      let response: Response;
      try {
        response = await fetch(`${onlineBase(this.grant)}${path}${query}`, { method, headers });
      } catch {
        throw new AppProblem("problemDownloadFailed");
      }
      if (response.ok) return response;
      if (attempt === 0 && [401, 403].includes(response.status)) {
        this.grant = await grantFor(this.loanId);
        continue;
      }
      throw new ApiError(response.status, "", `${method} ${path}`);
    }
  }
}

/** The bytes a resource takes stored: a HEAD of its first byte, whose Content-Range names the whole length. A
 * plain HEAD would answer the gzip length of text (the browser always accepts gzip), which Cache Storage keeps
 * decoded: Moby-Dick announced 2.27 MB and stored 3.00 MB. */
async function storedLength(source: Source, path: string): Promise<number> {
  let answer: Response;
  try {
    answer = await source.get(path, "", "HEAD", { Range: "bytes=0-0" });
  } catch (error) {
    if (error instanceof ApiError && error.status === 416) return 0; // an empty resource has no first byte
    throw error;
  }
  const whole = /\/(\d+)\s*$/.exec(answer.headers.get("Content-Range") ?? "")?.[1];
  return Number(whole ?? answer.headers.get("Content-Length") ?? 0);
}

/** Works out what a download takes (and its size) before anything is stored. Online-only titles are refused. */
export async function plan(loan: Loan, book: Title): Promise<Plan> {
  // Read online only, and a partner deployment's loan (ODL, read at the lender's reader): never stored here.
  if (book.online_only || isPartnerLoan(loan)) throw new AppProblem("problemNotStorable");
  const grant = await grantFor(loan.id);
  if (grant.online_only) throw new AppProblem("problemNotStorable");
  const source = new Source(grant, loan.id);
  const manifest = (await (await source.get("manifest.json")).json()) as {
    readingOrder?: Array<{ href: string; type?: string }>;
    resources?: Array<{ href: string; type?: string }>;
    metadata?: { numberOfPages?: number };
  };
  const loanEndsAt = grant.loan_ends_at ?? loan.due_at;
  const fetched = new Map<string, Blob>();
  if (manifest.readingOrder?.[0]?.type === "application/pdf") {
    const pages = manifest.metadata?.numberOfPages ?? 1;
    const width = deviceWidth();
    const query = `?width=${width}`;
    // The size: three pages spread through the book, their mean × pages (a title page alone is far smaller than a
    // page of text: page 1 × pages once said 2 MB for a book that took 14). The pages fetched are kept.
    const samples = [...new Set([1, Math.ceil(pages / 3), Math.ceil((2 * pages) / 3)])];
    const bodies = await Promise.all(samples.map(async (page) => (await source.get(`~sachso/pages/${page}`, query)).blob()));
    samples.forEach((page, index) => fetched.set(`~sachso/pages/${page}`, bodies[index]!));
    const pageSize = Math.round(bodies.reduce((sum, body) => sum + body.size, 0) / bodies.length);
    const items: Item[] = [{ path: "manifest.json", size: 2_000 }];
    for (let page = 1; page <= pages; page++) {
      const path = `~sachso/pages/${page}`;
      items.push({ path, query, size: fetched.get(path)?.size ?? pageSize }, { path: `${path}/text`, size: 2_000 });
    }
    return { loan, book, kind: "pdf", items, bytes: items.reduce((sum, item) => sum + item.size, 0), loanEndsAt, pages, width, grant, fetched };
  }
  // The positions list is small and answers GET only: fetched now. Every resource the manifest lists: a HEAD of
  // its first byte.
  const positions = await (await source.get("~readium/positions")).blob();
  fetched.set("~readium/positions", positions);
  const hrefs = new Set(["manifest.json"]);
  for (const link of [...(manifest.readingOrder ?? []), ...(manifest.resources ?? [])]) hrefs.add(withoutFragment(link.href));
  const items: Item[] = [...hrefs].map((path) => ({ path, size: 0 }));
  await pool(items, 6, async (item) => {
    item.size = await storedLength(source, item.path);
  });
  items.push({ path: "~readium/positions", size: positions.size });
  return { loan, book, kind: "epub", items, bytes: items.reduce((sum, item) => sum + item.size, 0), loanEndsAt, grant, fetched };
}

function isQuotaError(error: unknown): boolean {
  return error instanceof DOMException && (error.name === "QuotaExceededError" || error.code === 22);
}

/** Stores everything ``plan`` lists, reporting bytes as they arrive; on any failure nothing is left behind. */
export async function download(chosen: Plan, patronId: string, progress: (done: number, total: number) => void): Promise<OfflineBook> {
  const estimate = await navigator.storage?.estimate?.().catch(() => undefined);
  if (estimate?.quota !== undefined && estimate.usage !== undefined && estimate.quota - estimate.usage < chosen.bytes * 1.1) {
    throw new AppProblem("problemStorageFull");
  }
  void navigator.storage?.persist?.().catch(() => false); // best effort: ask the browser not to evict books
  const { loan, book } = chosen;
  const record: OfflineBook = {
    loanId: loan.id,
    patronId,
    publicationId: loan.publication_id,
    titleId: loan.title_id,
    title: book.title,
    language: book.language,
    kind: chosen.kind,
    loanEndsAt: chosen.loanEndsAt,
    bytes: 0,
    pages: chosen.pages,
    width: chosen.width,
    storedAt: new Date().toISOString(),
    complete: false,
  };
  await forgetBook(loan.id);
  await keepBook(record);
  const cache = await caches.open(cacheName(loan.id));
  const base = offlineBase(loan.id);
  const source = new Source(chosen.grant, loan.id);
  let done = 0;
  progress(0, chosen.bytes);
  try {
    await pool(chosen.items, 4, async (item) => {
      let body = chosen.fetched.get(item.path);
      let type = body?.type ?? "";
      if (!body) {
        const response = await source.get(item.path, item.query ?? "");
        type = response.headers.get("Content-Type") ?? "";
        body = await response.blob();
      }
      const headers: Record<string, string> = { "Content-Length": String(body.size) };
      if (type) headers["Content-Type"] = type;
      await cache.put(new URL(item.path, base).href, new Response(body, { headers }));
      done += body.size;
      progress(done, Math.max(done, chosen.bytes));
    });
  } catch (error) {
    await forgetBook(loan.id);
    throw isQuotaError(error) ? new AppProblem("problemStorageFull") : error;
  }
  const stored = { ...record, bytes: done, complete: true };
  await keepBook(stored);
  return stored;
}

/** Bytes this device holds for downloaded books, and what the browser allows, when it says. */
export async function storageUse(): Promise<{ usage?: number; quota?: number }> {
  return (await navigator.storage?.estimate?.().catch(() => undefined)) ?? {};
}

export { forgetBook, offlineBook };
