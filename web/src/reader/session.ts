// What a reading session needs from the services: a streaming token for the loan, the saved position, the
// reader's preferences (kept per browser) and a device id (for "continue where you left off").

import { Locator } from "@readium/shared";
import { api, ApiError, baseUrl, type Loan, type StreamingToken } from "../api";
import { devicePosition, isNetworkFailure, sendOrQueue } from "../offline/sync";

export const THEMES = {
  light: { backgroundColor: "#FFFFFF", textColor: "#121212" },
  sepia: { backgroundColor: "#FAF4E8", textColor: "#121212" },
  dark: { backgroundColor: "#000000", textColor: "#FEFEFE" },
} as const;
export type Theme = keyof typeof THEMES;
export const TYPEFACES = {
  publisher: null,
  literata: "Literata, 'Noto Serif', serif",
  sans: "'Noto Sans', 'DejaVu Sans', system-ui, sans-serif",
} as const;
export type Typeface = keyof typeof TYPEFACES;
export const LINE_HEIGHTS = [1.2, 1.5, 1.8, 2.1] as const;
export const MARGINS = { narrow: 8, normal: 24, wide: 56 } as const;
export type Margin = keyof typeof MARGINS;
export type PdfFit = "width" | "page";

export interface ReadingPrefs {
  fontSize: number;
  theme: Theme;
  typeface: Typeface;
  lineHeight: number;
  margin: Margin;
  scroll: boolean;
  pdfFit: PdfFit;
  pdfZoom: number;
}

const PREFS_KEY = "sachso.reading";

export function readingPrefs(): ReadingPrefs {
  const saved = JSON.parse(localStorage.getItem(PREFS_KEY) ?? "{}") as Partial<ReadingPrefs>;
  return {
    fontSize: typeof saved.fontSize === "number" ? saved.fontSize : 1,
    theme: saved.theme && saved.theme in THEMES ? saved.theme : "light",
    typeface: saved.typeface && saved.typeface in TYPEFACES ? saved.typeface : "publisher",
    lineHeight: typeof saved.lineHeight === "number" ? saved.lineHeight : 1.5,
    margin: saved.margin && saved.margin in MARGINS ? saved.margin : "normal",
    scroll: saved.scroll === true,
    pdfFit: saved.pdfFit === "page" ? "page" : "width",
    pdfZoom: typeof saved.pdfZoom === "number" ? saved.pdfZoom : 1,
  };
}

export function keepReadingPrefs(prefs: ReadingPrefs): void {
  localStorage.setItem(PREFS_KEY, JSON.stringify(prefs));
}

export function deviceId(): string {
  let id = localStorage.getItem("sachso.device");
  if (!id) {
    id = crypto.randomUUID();
    localStorage.setItem("sachso.device", id);
  }
  return id;
}

/** A loan of another deployment's title (ODL): its publication id as lending mirrors it. */
export function isPartnerLoan(loan: Loan): boolean {
  return loan.publication_id.startsWith("odl:");
}

export async function streamingToken(loan: Loan): Promise<StreamingToken> {
  if (isPartnerLoan(loan)) {
    // Read at the lending deployment: its DRM's token and its reader's manifest, through our lending service.
    const partner = await api<{ token: string; expires_at: string; manifest_url: string }>(
      "lending",
      `/v1/odl/loans/${loan.id}/streaming-token`,
      { auth: "patron", method: "POST" },
    );
    return { ...partner, publication_id: loan.publication_id };
  }
  const loanId = loan.id;
  // DRM learns of a new loan through an event: give it a moment right after borrowing.
  for (let attempt = 0; ; attempt++) {
    try {
      return await api<StreamingToken>("drm", `/v1/loans/${loanId}/streaming-token`, { auth: "patron", method: "POST" });
    } catch (error) {
      if (!(error instanceof ApiError) || ![404, 409].includes(error.status) || attempt >= 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

/** The root of a reader service manifest (``…/manifest.json``) as this app reaches it: through its own base
 * (scripts/serve.mjs), never the service's internal address. */
export function readerRoot(manifestUrl: string): string {
  return baseUrl("reader") + new URL(manifestUrl).pathname.replace(/manifest\.json$/, "");
}

/** Where the loan's publication is served, as this app reaches it (the reader service through its own base). */
export function publicationBase(token: StreamingToken, loan?: Loan): string {
  if (loan && isPartnerLoan(loan)) return token.manifest_url.replace(/manifest\.json$/, ""); // the lender's reader
  return readerRoot(token.manifest_url);
}

/** An open title's reading: lending counts it (once per call: call it once per reading) and says where its
 * manifest is — a local document's IIIF manifest ("iiif") or a publication's open streaming root. */
export async function openReading(titleId: string): Promise<{ kind: string; manifest_url: string }> {
  return api("lending", `/v1/titles/${encodeURIComponent(titleId)}/open-reading`, { method: "POST" });
}

export async function savedPosition(publicationId: string): Promise<Locator | undefined> {
  try {
    const saved = await api<{ locator: unknown }>("reader", `/v1/reading/positions/${publicationId}`, { auth: "patron" });
    return Locator.deserialize(saved.locator);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return undefined;
    if (isNetworkFailure(error)) return Locator.deserialize(await devicePosition(publicationId)); // offline: this device's last
    throw error;
  }
}

/** Saves the position (the latest by device time wins); offline, it waits in a queue for the connection. */
export async function savePosition(publicationId: string, locator: unknown): Promise<void> {
  await sendOrQueue("position", publicationId, { locator, device_id: deviceId(), device_name: navigator.userAgent.slice(0, 200), modified: new Date().toISOString() });
}
