// PDFs and scanned documents read as page images rendered by the reader service. The page fits the width or
// the whole page, zooms, and scrolls inside the stage, so every part of it can be reached on any screen; its
// text layer (where the PDF has one) is its text alternative for screen readers.

import { h, reportProblem } from "../dom";
import { t } from "../i18n";
import { choices, pageKeys, readerChrome, type ReadingVisit } from "./chrome";
import { keepReadingPrefs, type PdfFit, readingPrefs, savePosition } from "./session";
import type { Locator } from "@readium/shared";

export async function readPdf(
  main: HTMLElement,
  book: { title: string; language: string },
  base: string,
  publicationId: string,
  pages: number,
  saved: Locator | undefined,
  visit: ReadingVisit = {},
): Promise<void> {
  const fragment = saved?.locations?.fragments?.find((value) => value.startsWith("page="));
  let page = Math.min(pages, Math.max(1, Number(fragment?.slice(5) ?? 1) || 1));
  const prefs = readingPrefs();
  const chrome = readerChrome(book.title, book.language, publicationId, visit);
  const { container, progress } = chrome;
  chrome.root.classList.add("pdf");
  chrome.setTheme(prefs.theme);
  container.tabIndex = 0;
  container.setAttribute("role", "region");
  container.setAttribute("aria-label", t("pdfPageRegion"));
  const textLayer = h("div", { id: "pdf-page-text", class: "visually-hidden", lang: book.language || undefined });
  const image = h("img", { id: "pdf-page", alt: "", class: "pdf-page", "aria-describedby": "pdf-page-text" }) as HTMLImageElement;
  container.append(h("figure", { class: "pdf-figure" }, image), textLayer);
  main.append(chrome.root);

  const zoomValue = h("output", { id: "pdf-zoom-value", "aria-live": "polite" });
  const layout = (): void => {
    chrome.root.dataset.fit = prefs.pdfFit;
    zoomValue.textContent = `${Math.round(prefs.pdfZoom * 100)}%`;
    const box = container.getBoundingClientRect();
    const ratio = image.naturalWidth ? image.naturalHeight / image.naturalWidth : 1.414;
    let width = box.width * prefs.pdfZoom;
    if (prefs.pdfFit === "page") width = Math.min(box.width, box.height / ratio) * prefs.pdfZoom;
    image.style.width = `${Math.floor(width)}px`;
    image.style.height = `${Math.floor(width * ratio)}px`;
  };
  const pixels = (): number => {
    const box = container.getBoundingClientRect();
    return Math.min(3000, Math.ceil((Math.max(box.width, 300) * window.devicePixelRatio * prefs.pdfZoom) / 100) * 100);
  };
  const openedAt = page;
  let moved = false;
  const show = async (): Promise<void> => {
    container.dataset.loading = "true";
    const loaded = new Promise((resolve) => {
      image.onload = resolve;
      image.onerror = resolve;
    });
    image.src = `${base}~sachso/pages/${page}?width=${pixels()}`;
    image.alt = t("pdfPageAlt", { page, total: pages, title: book.title });
    progress.textContent = t("pageOf", { page, total: pages });
    container.dataset.position = String(page);
    container.dataset.href = "publication.pdf";
    container.scrollTo({ top: 0, left: 0 });
    const text = fetch(`${base}~sachso/pages/${page}/text`)
      .then((response) => (response.ok ? response.text() : ""))
      .catch(() => "");
    await loaded;
    layout();
    textLayer.textContent = (await text) || t("pdfNoText");
    delete container.dataset.loading;
    moved ||= page !== openedAt; // opening a book is not reading it (see epub.ts)
    if (!moved || visit.personal === false) return; // an open title read by anyone: no position kept
    const locator = { href: "publication.pdf", type: "application/pdf", locations: { position: page, progression: (page - 1) / pages, totalProgression: (page - 1) / pages, fragments: [`page=${page}`] } };
    try {
      await savePosition(publicationId, locator);
      container.dataset.saved = JSON.stringify(locator);
    } catch (error) {
      reportProblem(error);
    }
  };
  const turn = (by: number): void => {
    const target = Math.min(pages, Math.max(1, page + by));
    if (target === page) return;
    page = target;
    void show();
  };
  const turns = { left: () => turn(-1), right: () => turn(1), backward: () => turn(-1), forward: () => turn(1) };
  chrome.previous.addEventListener("click", () => turn(-1));
  chrome.next.addEventListener("click", () => turn(1));
  const onKey = (event: KeyboardEvent): void => {
    if (!chrome.root.isConnected) {
      document.removeEventListener("keydown", onKey);
      return;
    }
    // When the page is larger than the screen, arrow keys scroll it; Page keys always turn.
    const scrollable = container.scrollWidth > container.clientWidth + 1;
    if (scrollable && event.key.startsWith("Arrow")) return;
    pageKeys(event, turns);
  };
  document.addEventListener("keydown", onKey);
  let touch: { x: number; y: number } | null = null;
  container.addEventListener("touchstart", (event) => {
    const point = event.changedTouches[0];
    touch = point && event.touches.length === 1 ? { x: point.clientX, y: point.clientY } : null;
  }, { passive: true });
  container.addEventListener("touchend", (event) => {
    const point = event.changedTouches[0];
    if (!touch || !point || container.scrollWidth > container.clientWidth + 1) return;
    const dx = point.clientX - touch.x;
    if (Math.abs(dx) > 60 && Math.abs(point.clientY - touch.y) < 50) turn(dx < 0 ? 1 : -1);
    touch = null;
  }, { passive: true });

  const settings = chrome.panel("panel-settings", "readingSettings", t("readingSettingsShort"));
  const zoom = (by: number): void => {
    prefs.pdfZoom = Math.min(4, Math.max(0.5, Math.round((prefs.pdfZoom + by) * 4) / 4));
    keepReadingPrefs(prefs);
    layout();
    void show();
  };
  const zoomOut = h("button", { type: "button", class: "secondary", id: "pdf-zoom-out" }, t("zoomOut"));
  const zoomIn = h("button", { type: "button", class: "secondary", id: "pdf-zoom-in" }, t("zoomIn"));
  zoomOut.addEventListener("click", () => zoom(-0.25));
  zoomIn.addEventListener("click", () => zoom(0.25));
  settings.append(
    choices<PdfFit>("fit", "pdfFit", [["width", t("fitWidth")], ["page", t("fitPage")]], prefs.pdfFit, (value) => {
      prefs.pdfFit = value;
      prefs.pdfZoom = 1;
      keepReadingPrefs(prefs);
      layout();
    }),
    h("div", { class: "font-size", role: "group", "aria-labelledby": "zoom-label" }, h("span", { id: "zoom-label" }, t("zoom")), zoomOut, zoomValue, zoomIn),
  );
  new ResizeObserver(() => layout()).observe(chrome.stage);
  await show();
  container.dataset.ready = "true";
}
