// Reading a loan in the browser with Readium's navigator, from the reader service's Web Publication Manifest.
// DRM hands out a short-lived streaming token for the loan; the manifest and every resource are fetched under
// /v1/read/{token}/ (relative links keep the token). The position is saved to the reader service as the page
// turns, and restored on any device.

import { EpubNavigator, EpubPreferences, type EpubNavigatorListeners } from "@readium/navigator";
import { HttpFetcher, type Link, Locator, Manifest, Publication } from "@readium/shared";
import { api, ApiError, baseUrl, type Loan, type StreamingToken, title } from "./api";
import { announce, h } from "./dom";
import { currentLanguage, t } from "./i18n";
import { problem, type Render } from "./patron";

const THEMES = {
  light: { backgroundColor: "#FFFFFF", textColor: "#121212" },
  sepia: { backgroundColor: "#FAF4E8", textColor: "#121212" },
  dark: { backgroundColor: "#000000", textColor: "#FEFEFE" },
} as const;
type Theme = keyof typeof THEMES;

interface ReadingPrefs {
  fontSize: number;
  theme: Theme;
}

function readingPrefs(): ReadingPrefs {
  const saved = JSON.parse(localStorage.getItem("sachso.reading") ?? "{}") as Partial<ReadingPrefs>;
  return { fontSize: saved.fontSize ?? 1, theme: saved.theme && saved.theme in THEMES ? saved.theme : "light" };
}

function deviceId(): string {
  let id = localStorage.getItem("sachso.device");
  if (!id) {
    id = crypto.randomUUID();
    localStorage.setItem("sachso.device", id);
  }
  return id;
}

let active: EpubNavigator | null = null;

/** Ends the reading session when the reader leaves the page. */
export async function closeReader(): Promise<void> {
  const navigator = active;
  active = null;
  if (navigator) await navigator.destroy();
}

async function streamingToken(loanId: string): Promise<StreamingToken> {
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

async function savedPosition(publicationId: string): Promise<Locator | undefined> {
  try {
    const saved = await api<{ locator: unknown }>("reader", `/v1/reading/positions/${publicationId}`, { auth: "patron" });
    return Locator.deserialize(saved.locator);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return undefined;
    throw error;
  }
}

/** PDFs and scanned documents are read as page images rendered by the reader service. */
async function readPdf(
  main: HTMLElement,
  bookTitle: string,
  language: string | undefined,
  base: string,
  publicationId: string,
  pages: number,
): Promise<void> {
  const saved = await savedPosition(publicationId);
  const fragment = saved?.locations?.fragments?.find((value) => value.startsWith("page="));
  let page = Math.min(pages, Math.max(1, Number(fragment?.slice(5) ?? 1) || 1));
  const width = Math.min(1600, Math.ceil((window.innerWidth * window.devicePixelRatio) / 100) * 100);
  const image = h("img", { id: "pdf-page", alt: "", class: "pdf-page" }) as HTMLImageElement;
  const container = h("div", { id: "reading-container", "data-publication": publicationId, tabindex: -1 }, image);
  const progress = h("p", { class: "progress", id: "reading-progress", "aria-live": "polite" });
  const previous = h("button", { type: "button", id: "page-previous" }, `‹ ${t("previous")}`);
  const next = h("button", { type: "button", id: "page-next" }, `${t("next")} ›`);
  main.append(
    h(
      "div",
      { class: "reader" },
      h("div", { class: "toolbar" }, h("h1", { id: "page-title", tabindex: -1, class: "visually-compact", lang: language || undefined }, bookTitle), h("a", { href: "#/loans" }, t("backToLoans"))),
      container,
      h("div", { class: "pager" }, previous, progress, next),
    ),
  );
  const show = async (): Promise<void> => {
    image.src = `${base}~sachso/pages/${page}?width=${width}`;
    image.alt = `${bookTitle} — ${page}/${pages}`;
    progress.textContent = `${page}/${pages}`;
    container.dataset.position = String(page);
    container.dataset.href = "publication.pdf";
    const locator = { href: "publication.pdf", type: "application/pdf", locations: { position: page, progression: (page - 1) / pages, totalProgression: (page - 1) / pages, fragments: [`page=${page}`] } };
    try {
      await api("reader", `/v1/reading/positions/${publicationId}`, {
        auth: "patron",
        method: "PUT",
        body: { locator, device_id: deviceId(), device_name: navigator.userAgent.slice(0, 200), modified: new Date().toISOString() },
      });
      container.dataset.saved = JSON.stringify(locator);
    } catch (error) {
      problem(error);
    }
  };
  previous.addEventListener("click", () => {
    if (page > 1) {
      page -= 1;
      void show();
    }
  });
  next.addEventListener("click", () => {
    if (page < pages) {
      page += 1;
      void show();
    }
  });
  container.addEventListener("keydown", (event) => {
    if (event.key === "ArrowRight") next.click();
    if (event.key === "ArrowLeft") previous.click();
  });
  await show();
  container.dataset.ready = "true";
  if (saved) announce(t("positionRestored"));
}

export const readPage: Render = async (main, [loanId]) => {
  const loans = await api<Loan[]>("lending", "/v1/loans", { auth: "patron" });
  const loan = loans.find((candidate) => candidate.id === loanId);
  if (!loan) throw new ApiError(404, t("notFound"));
  const book = await title(loan.title_id);
  const token = await streamingToken(loan.id);
  // The manifest URL names the reader service as the world sees it; this app reaches it through its own base.
  const manifestPath = new URL(token.manifest_url).pathname;
  const base = baseUrl("reader") + manifestPath.replace(/manifest\.json$/, "");
  const manifestJson = (await (await fetch(`${base}manifest.json`)).json()) as {
    readingOrder?: Array<{ type?: string; href?: string }>;
    metadata?: { numberOfPages?: number };
  };
  if (manifestJson.readingOrder?.[0]?.type === "application/pdf") {
    await readPdf(main, book.title, book.language, base, token.publication_id, manifestJson.metadata?.numberOfPages ?? 1);
    return;
  }
  const manifest = Manifest.deserialize(manifestJson);
  if (!manifest) throw new Error("manifest");
  manifest.setSelfLink(`${base}manifest.json`);
  const publication = new Publication({ manifest, fetcher: new HttpFetcher(undefined, base) });
  const positionsJson = (await (await fetch(`${base}~readium/positions`)).json()) as { positions?: unknown[] };
  const positions = (positionsJson.positions ?? []).map((item) => Locator.deserialize(item)).filter((item): item is Locator => !!item);
  const initial = await savedPosition(token.publication_id);
  let current: Locator | undefined = initial;

  const prefs = readingPrefs();
  const progress = h("p", { class: "progress", id: "reading-progress", "aria-live": "polite" });
  const container = h("div", { id: "reading-container", "data-publication": token.publication_id, tabindex: -1 });
  const toc = h("select", { id: "toc", "aria-label": t("contents") }, h("option", { value: "" }, t("contents"))) as HTMLSelectElement;
  const tocLinks: Link[] = [];
  const flatten = (links: Link[] | undefined, depth: number): void => {
    for (const link of links ?? []) {
      tocLinks.push(link);
      toc.append(h("option", { value: String(tocLinks.length - 1) }, `${"— ".repeat(depth)}${link.title ?? link.href}`));
      flatten(link.children?.items, depth + 1);
    }
  };
  flatten(manifest.toc?.items, 0);
  const theme = h("select", { id: "theme", "aria-label": t("theme") }, ...(["light", "sepia", "dark"] as Theme[]).map((name) => h("option", { value: name, selected: name === prefs.theme }, t(name === "light" ? "themeLight" : name === "sepia" ? "themeSepia" : "themeDark")))) as HTMLSelectElement;
  const smaller = h("button", { type: "button", class: "secondary", "aria-label": t("smaller") }, "A−");
  const larger = h("button", { type: "button", class: "secondary", "aria-label": t("larger") }, "A+");
  const previous = h("button", { type: "button", id: "page-previous" }, `‹ ${t("previous")}`);
  const next = h("button", { type: "button", id: "page-next" }, `${t("next")} ›`);
  const query = h("input", { id: "book-search", type: "search", "aria-label": t("searchInBook"), placeholder: t("searchInBook") }) as HTMLInputElement;
  const searchButton = h("button", { type: "button", class: "secondary", id: "book-search-go" }, t("searchInBookGo"));
  const hits = h("ol", { id: "book-search-results", class: "search-results", "aria-live": "polite" });
  const markButton = h("button", { type: "button", class: "secondary", id: "bookmark-add" }, t("bookmark"));
  const marks = h("select", { id: "bookmarks", "aria-label": t("bookmarks") }, h("option", { value: "" }, t("bookmarks"))) as HTMLSelectElement;
  const jump = h("input", { id: "go-to-position", type: "number", min: "1", max: String(positions.length), "aria-label": t("goToPosition"), placeholder: t("goToPosition") }) as HTMLInputElement;
  main.append(
    h(
      "div",
      { class: "reader" },
      h("div", { class: "toolbar" }, h("h1", { id: "page-title", tabindex: -1, class: "visually-compact", lang: book.language || undefined }, book.title), h("a", { href: "#/loans" }, t("backToLoans")), toc, smaller, larger, theme),
      h("div", { class: "toolbar" }, query, searchButton, markButton, marks, jump),
      hits,
      container,
      h("div", { class: "pager" }, previous, progress, next),
    ),
  );

  let saveTimer: number | undefined;
  const save = (locator: Locator): void => {
    window.clearTimeout(saveTimer);
    saveTimer = window.setTimeout(async () => {
      try {
        await api("reader", `/v1/reading/positions/${token.publication_id}`, {
          auth: "patron",
          method: "PUT",
          body: { locator: locator.serialize(), device_id: deviceId(), device_name: navigator.userAgent.slice(0, 200), modified: new Date().toISOString() },
        });
        container.dataset.saved = JSON.stringify(locator.serialize());
      } catch (error) {
        problem(error);
      }
    }, 400);
  };
  const listeners: EpubNavigatorListeners = {
    frameLoaded: () => undefined,
    positionChanged: (locator) => {
      const position = locator.locations?.position;
      const total = positions.length;
      progress.textContent = [locator.title, position && total ? `${position}/${total}` : ""].filter(Boolean).join(" · ");
      container.dataset.href = locator.href;
      container.dataset.position = String(position ?? "");
      container.dataset.progression = String(locator.locations?.progression ?? "");
      current = locator;
      save(locator);
    },
    tap: () => false,
    click: () => false,
    zoom: () => undefined,
    miscPointer: () => undefined,
    scroll: () => undefined,
    customEvent: () => undefined,
    handleLocator: () => false,
    textSelected: () => undefined,
    contentProtection: () => undefined,
    contextMenu: () => undefined,
    peripheral: () => undefined,
  };
  await closeReader();
  const reader = new EpubNavigator(container, publication, listeners, positions, initial, {
    preferences: { fontSize: prefs.fontSize, ...THEMES[prefs.theme] },
    defaults: {},
  });
  active = reader;
  await reader.load();
  container.dataset.ready = "true";
  if (initial) announce(t("positionRestored"));

  const apply = async (): Promise<void> => {
    localStorage.setItem("sachso.reading", JSON.stringify(prefs));
    await reader.submitPreferences(new EpubPreferences({ fontSize: prefs.fontSize, ...THEMES[prefs.theme] }));
  };
  smaller.addEventListener("click", () => {
    prefs.fontSize = Math.max(0.7, Math.round((prefs.fontSize - 0.1) * 10) / 10);
    void apply();
  });
  larger.addEventListener("click", () => {
    prefs.fontSize = Math.min(2.5, Math.round((prefs.fontSize + 0.1) * 10) / 10);
    void apply();
  });
  theme.addEventListener("change", () => {
    prefs.theme = theme.value as Theme;
    void apply();
  });
  const bookmarkLocators: Locator[] = [];
  const addMark = (locator: Locator, label: string): void => {
    bookmarkLocators.push(locator);
    marks.append(h("option", { value: String(bookmarkLocators.length - 1) }, label));
  };
  try {
    const saved = await api<Array<{ kind: string; locator: unknown; note: string }>>("reader", `/v1/reading/annotations/${token.publication_id}`, { auth: "patron" });
    for (const item of saved.filter((entry) => entry.kind === "bookmark")) {
      const locator = Locator.deserialize(item.locator);
      if (locator) addMark(locator, item.note || `${locator.locations?.position ?? ""}`);
    }
  } catch (error) {
    problem(error);
  }
  markButton.addEventListener("click", async () => {
    if (!current) return;
    const note = `${current.title ?? book.title} · ${current.locations?.position ?? ""}`;
    try {
      await api("reader", `/v1/reading/annotations/${token.publication_id}`, { auth: "patron", method: "POST", body: { kind: "bookmark", locator: current.serialize(), note } });
      addMark(current, note);
      announce(t("bookmarkSaved"));
    } catch (error) {
      problem(error);
    }
  });
  marks.addEventListener("change", () => {
    const locator = bookmarkLocators[Number(marks.value)];
    if (locator) reader.go(locator, false, () => undefined);
  });
  jump.addEventListener("change", () => {
    const locator = positions[Number(jump.value) - 1];
    if (locator) reader.go(locator, false, () => undefined);
  });
  const search = async (): Promise<void> => {
    hits.replaceChildren();
    if (!query.value.trim()) return;
    const found = (await (await fetch(`${base}~sachso/search?q=${encodeURIComponent(query.value.trim())}`)).json()) as { locators: unknown[] };
    if (!found.locators.length) hits.append(h("li", {}, t("searchInBookNone")));
    for (const item of found.locators.slice(0, 20)) {
      const locator = Locator.deserialize(item);
      if (!locator) continue;
      const text = locator.text;
      const link = h("button", { type: "button", class: "link" }, text?.before ?? "", h("mark", {}, text?.highlight ?? ""), text?.after ?? "");
      link.addEventListener("click", () => reader.go(locator, false, () => undefined));
      hits.append(h("li", {}, link));
    }
  };
  searchButton.addEventListener("click", () => void search().catch(problem));
  query.addEventListener("keydown", (event) => {
    if (event.key === "Enter") void search().catch(problem);
  });
  toc.addEventListener("change", () => {
    const link = tocLinks[Number(toc.value)];
    if (link) reader.goLink(link, false, () => undefined);
  });
  previous.addEventListener("click", () => reader.goBackward(false, () => undefined));
  next.addEventListener("click", () => reader.goForward(false, () => undefined));
  container.addEventListener("keydown", (event) => {
    if (event.key === "ArrowRight") reader.goRight(false, () => undefined);
    if (event.key === "ArrowLeft") reader.goLeft(false, () => undefined);
  });
  document.documentElement.lang = currentLanguage();
};
