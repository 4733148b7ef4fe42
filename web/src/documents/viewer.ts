// The viewer of a scanned local document (/documents/{title}): its IIIF page images with zoom, each page's OCR
// text beside it (its text alternative), and search with the hits marked on the page image and in the text.
// Open documents need no card and no loan: lending counts the reading and answers the IIIF manifest's address.
// A lent one (/documents/{title}?loan={loan}, read online only) is read through the loan's IIIF root: DRM's
// short-lived streaming token is in every address, and every page image the reader serves is watermarked with
// the patron and the loan. The token is asked for again before it runs out.

import { api, ApiError, failure, type Loan, session, type StreamingToken, type Title } from "../api";
import { h, reportProblem } from "../dom";
import { openReading, readerRoot, streamingToken } from "../reader/session";
import { currentQuery, go as goTo, type Render } from "../router";
import { highlighted } from "./highlight";
import { dt } from "./messages";
import "./documents.css";

interface Canvas {
  width: number;
  height: number;
  items: Array<{ items: Array<{ body: { service?: Array<{ id: string }> } }> }>;
}
interface Manifest {
  label: Record<string, string[]>;
  items: Canvas[];
}
interface Hit {
  page: number;
  boxes: number[][];
  text: { before: string; highlight: string; after: string };
}

/** The "Read freely" action for a title page (an open local document opens in this viewer). */
export function readFreelyAction(item: Title): HTMLElement {
  return h(
    "div",
    { class: "open-reading" },
    h("span", { class: "badge", "data-availability": "available" }, dt("openBadge")),
    h("a", { href: `/documents/${encodeURIComponent(item.id)}`, class: "button primary", id: "title-read-freely" }, dt("readFreely")),
    h("p", { class: "meta" }, dt("readFreelyHelp")),
  );
}

/** Where the document's IIIF root is now: fixed for an open document, a fresh token's root for a lent one. */
type DocumentRoot = () => Promise<string>;

/** A loan's token, checked: only a scanned local document's token names an IIIF root. */
async function documentToken(loan: Loan): Promise<StreamingToken> {
  const token = await streamingToken(loan);
  if (!token.local_document) throw new ApiError(409, "not-a-local-document"); // its manifest is no IIIF one
  return token;
}

/** The IIIF root of the patron's loan of ``titleId``, asking DRM for a new token a minute before the current one
 * runs out — once, however many pages ask for the root meanwhile. */
async function lentRoot(loanId: string, titleId: string): Promise<DocumentRoot> {
  const loans = await api<Loan[]>("lending", "/v1/loans", { auth: "patron" });
  const loan = loans.find((candidate) => candidate.id === loanId);
  if (!loan) throw new ApiError(404, "loan-not-active");
  if (loan.title_id !== titleId) throw new ApiError(404, "loan-not-found"); // a loan of another title
  let token: StreamingToken = await documentToken(loan);
  let renewing: Promise<StreamingToken> | null = null;
  return async () => {
    if (Date.parse(token.expires_at) - Date.now() < 60_000) {
      renewing ??= documentToken(loan).finally(() => {
        renewing = null;
      });
      token = await renewing;
    }
    return readerRoot(token.manifest_url);
  };
}

async function openRoot(titleId: string): Promise<DocumentRoot> {
  const root = readerRoot((await openReading(titleId)).manifest_url);
  return async () => root;
}

/** A GET of the reader's IIIF root; a refusal becomes the problem it names (the app's own words for it). */
async function fetched(url: string): Promise<Response> {
  const answer = await fetch(url);
  if (!answer.ok) throw await failure(answer);
  return answer;
}

export const documentViewerPage: Render = async (main, [titleId]) => {
  const loanId = currentQuery().get("loan");
  if (loanId && !session("patron")) {
    // a lent document is read by its borrower only: sign in, then come back here
    goTo(`/signin?next=${encodeURIComponent(`/documents/${encodeURIComponent(titleId ?? "")}?loan=${encodeURIComponent(loanId)}`)}`, { replace: true });
    return;
  }
  const item = await api<Title>("lending", `/v1/titles/${encodeURIComponent(titleId ?? "")}`);
  const root = loanId ? await lentRoot(loanId, item.id) : await openRoot(item.id);
  const manifest = (await (await fetched(`${await root()}manifest.json`)).json()) as Manifest;
  const canvases = manifest.items;
  const total = canvases.length;
  let page = 1;
  let zoom = 1;
  let query = "";
  let hits: Hit[] = [];

  const image = h("img", { id: "doc-page-image", class: "doc-page-image", alt: "", "aria-describedby": "doc-text" }) as HTMLImageElement;
  const marks = h("div", { class: "doc-hits", "aria-hidden": "true" });
  const figure = h("figure", { class: "doc-page" }, image, marks);
  const stage = h("div", { class: "doc-stage", id: "doc-stage", role: "region", "aria-label": dt("viewerRegion"), tabindex: 0 }, figure);
  const textBody = h("div", { class: "doc-text-body", id: "doc-text", lang: item.language || undefined });
  const textPanel = h("section", { class: "doc-text", "aria-labelledby": "doc-text-heading" }, h("h2", { id: "doc-text-heading" }, dt("ocrText")), textBody);
  const position = h("span", { class: "doc-position", id: "doc-position", "aria-live": "polite" });
  const previous = h("button", { type: "button", id: "doc-previous", "aria-label": dt("previousPage") }, "‹");
  const next = h("button", { type: "button", id: "doc-next", "aria-label": dt("nextPage") }, "›");
  const zoomOut = h("button", { type: "button", "aria-label": dt("zoomOut") }, "−");
  const zoomIn = h("button", { type: "button", id: "doc-zoom-in", "aria-label": dt("zoomIn") }, "+");
  const fit = h("button", { type: "button" }, dt("fitWidth"));
  const showImage = h("button", { type: "button", class: "doc-view-switch", "aria-pressed": "true" }, dt("showImage"));
  const showText = h("button", { type: "button", class: "doc-view-switch", id: "doc-show-text", "aria-pressed": "false" }, dt("showText"));
  const searchInput = h("input", { type: "search", name: "q", id: "doc-search", placeholder: dt("searchPlaceholder"), "aria-label": dt("searchInDocument") }) as HTMLInputElement;
  const searchForm = h("form", { class: "doc-search", role: "search" }, searchInput, h("button", { type: "submit" }, dt("search")));
  const results = h("ol", { class: "doc-results", id: "doc-results", "aria-live": "polite" });
  const title = manifest.label.vi?.[0] ?? manifest.label.en?.[0] ?? item.title;
  const viewer = h("div", { class: "doc-viewer", "data-view": "image" }, stage, textPanel);

  main.append(
    h("h1", { id: "page-title", tabindex: -1, lang: item.language || undefined }, title),
    item.authors.length ? h("p", { class: "meta" }, item.authors.join(", ")) : "",
    loanId ? h("p", { class: "doc-lent", id: "doc-lent" }, h("span", { class: "badge" }, dt("lentBadge")), " ", dt("lentHelp")) : "",
    h("div", { class: "doc-toolbar" }, previous, position, next, zoomOut, zoomIn, fit, showImage, showText),
    searchForm,
    results,
    viewer,
  );

  // Each canvas's image service is {root}{page} (the reader's IIIF layout); built from the root of now, so a
  // lent document's images carry a live token however long the reader stays.
  const service = async (number: number): Promise<string> => `${await root()}${number}`;
  const layout = (): void => {
    const canvas = canvases[page - 1];
    if (!canvas) return;
    const width = Math.floor(stage.clientWidth * zoom) - 2;
    figure.style.width = `${width}px`;
    figure.style.aspectRatio = `${canvas.width} / ${canvas.height}`;
  };
  const drawMarks = (): void => {
    const canvas = canvases[page - 1];
    marks.replaceChildren();
    if (!canvas) return;
    for (const hit of hits.filter((found) => found.page === page)) {
      for (const [x = 0, y = 0, w = 0, hgt = 0] of hit.boxes) {
        marks.append(h("span", { class: "doc-hit", style: `left:${(100 * x) / canvas.width}%;top:${(100 * y) / canvas.height}%;width:${(100 * w) / canvas.width}%;height:${(100 * hgt) / canvas.height}%` }));
      }
    }
  };
  let shown = 0; // the generation of the latest show(): an earlier one finishing later changes nothing
  const show = async (): Promise<void> => {
    const generation = ++shown;
    const canvas = canvases[page - 1];
    if (!canvas) return;
    position.textContent = dt("pageOf", { page, total });
    (previous as HTMLButtonElement).disabled = page <= 1;
    (next as HTMLButtonElement).disabled = page >= total;
    layout();
    const pixels = Math.min(canvas.width, Math.ceil((stage.clientWidth * zoom * window.devicePixelRatio) / 100) * 100);
    image.alt = dt("pageAlt", { page, title });
    const pageService = await service(page);
    if (generation !== shown) return;
    image.src = `${pageService}/full/${pixels},/0/default.jpg`;
    drawMarks();
    const text = await (await fetched(`${pageService}/text`)).text();
    if (generation !== shown) return;
    textBody.replaceChildren(...(text.trim() ? highlighted(text, query).map((node) => node) : [document.createTextNode(dt("noText"))]));
  };
  const go = (number: number): void => {
    page = Math.min(total, Math.max(1, number));
    void show().catch(reportProblem);
  };
  previous.addEventListener("click", () => go(page - 1));
  next.addEventListener("click", () => go(page + 1));
  zoomIn.addEventListener("click", () => {
    zoom = Math.min(4, zoom * 1.5);
    void show().catch(reportProblem);
  });
  zoomOut.addEventListener("click", () => {
    zoom = Math.max(0.5, zoom / 1.5);
    void show().catch(reportProblem);
  });
  fit.addEventListener("click", () => {
    zoom = 1;
    void show().catch(reportProblem);
  });
  const view = (which: "image" | "text"): void => {
    viewer.dataset.view = which;
    showImage.setAttribute("aria-pressed", String(which === "image"));
    showText.setAttribute("aria-pressed", String(which === "text"));
  };
  showImage.addEventListener("click", () => view("image"));
  showText.addEventListener("click", () => view("text"));
  stage.addEventListener("keydown", (event) => {
    if (event.key === "ArrowRight" || event.key === "PageDown") go(page + 1);
    if (event.key === "ArrowLeft" || event.key === "PageUp") go(page - 1);
  });
  searchForm.addEventListener("submit", (event) => {
    event.preventDefault();
    query = searchInput.value.trim();
    if (!query) return;
    void (async () => {
      const found = (await (await fetched(`${await root()}search?q=${encodeURIComponent(query)}`)).json()) as { total: number; hits: Hit[] };
      hits = found.hits;
      results.replaceChildren(
        ...(hits.length
          ? hits.map((hit) => {
              const link = h("button", { type: "button", class: "doc-result" }, h("span", {}, h("strong", {}, dt("hitOnPage", { page: hit.page })), " ", hit.text.before, h("mark", {}, hit.text.highlight), hit.text.after));
              link.addEventListener("click", () => go(hit.page));
              return h("li", {}, link);
            })
          : [h("li", {}, dt("noHits", { q: query }))]),
      );
      results.setAttribute("aria-label", dt("hits", { n: found.total }));
      go(hits[0]?.page ?? page);
    })().catch(reportProblem);
  });
  window.addEventListener("resize", layout);
  go(1);
};
