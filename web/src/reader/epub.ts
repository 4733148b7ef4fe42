// Reading an EPUB with Readium's navigator, full screen: the navigator's frames fill the stage at every size
// and lay out again when it changes (the navigator watches the stage); pages turn by tapping the sides,
// swiping, arrow and Page keys, or the buttons. Settings apply at once and are kept per browser.

import { EpubNavigator, EpubPreferences, type EpubNavigatorListeners, type IEpubPreferences } from "@readium/navigator";
import { HttpFetcher, type Link, Locator, Manifest, Publication } from "@readium/shared";
import fontFaces from "./fonts.css?inline";
import { api } from "../api";
import { actionButton, announce, field, h, reportProblem } from "../dom";
import { t } from "../i18n";
import { isOfflineBase, OfflineChapters } from "../offline/chapters";
import { reportUnlessOffline, sendOrQueue } from "../offline/sync";
import { choices, pageKeys, readerChrome, type PageTurns, type ReadingVisit } from "./chrome";
import { keepReadingPrefs, LINE_HEIGHTS, MARGINS, type Margin, readingPrefs, type ReadingPrefs, savePosition, THEMES, type Theme, TYPEFACES, type Typeface } from "./session";

let active: EpubNavigator | null = null;
let activeKeys: ((event: KeyboardEvent) => void) | null = null;
let activeChapters: OfflineChapters | null = null;

/** Ends the reading session when the reader leaves the page. */
export async function closeEpub(): Promise<void> {
  const navigator = active;
  active = null;
  if (activeKeys) document.removeEventListener("keydown", activeKeys);
  activeKeys = null;
  if (navigator) await navigator.destroy();
  activeChapters?.release();
  activeChapters = null;
}

function navigatorPreferences(prefs: ReadingPrefs): IEpubPreferences {
  return {
    fontSize: prefs.fontSize,
    fontFamily: TYPEFACES[prefs.typeface],
    lineHeight: prefs.lineHeight,
    pageGutter: MARGINS[prefs.margin],
    scroll: prefs.scroll,
    // Lines of about 55 characters: a phone shows one column, a desktop two side by side (as a printed
    // book's spread), so the book fills the screen instead of a narrow strip in the middle.
    optimalLineLength: 55,
    ...THEMES[prefs.theme],
  };
}

export async function readEpub(
  main: HTMLElement,
  book: { title: string; language: string },
  base: string,
  manifestJson: unknown,
  publicationId: string,
  initial: Locator | undefined,
  visit: ReadingVisit = {},
): Promise<void> {
  const manifest = Manifest.deserialize(manifestJson);
  if (!manifest) throw new Error("manifest");
  manifest.setSelfLink(`${base}manifest.json`);
  // A stored copy's chapter frames are not under the service worker: their pictures, styles and fonts are inlined.
  activeChapters?.release();
  activeChapters = isOfflineBase(base) ? new OfflineChapters(base) : null;
  const publication = new Publication({ manifest, fetcher: new HttpFetcher(activeChapters?.fetch, base) });
  const positionsJson = (await (await fetch(`${base}~readium/positions`)).json()) as { positions?: unknown[] };
  const positions = (positionsJson.positions ?? []).map((item) => Locator.deserialize(item)).filter((item): item is Locator => !!item);
  let current: Locator | undefined = initial;
  const prefs = readingPrefs();
  const chrome = readerChrome(book.title, book.language, publicationId, visit);
  const personal = visit.personal !== false; // an open title read by anyone keeps no position and no bookmarks
  const { container, progress } = chrome;
  chrome.setTheme(prefs.theme);
  main.append(chrome.root);

  // -- contents, bookmarks and go to position -------------------------------------------------------------
  const contents = chrome.panel("panel-contents", "contents", t("contents"));
  const tocList = h("ol", { class: "toc", id: "toc" });
  const addToc = (links: Link[] | undefined, list: HTMLElement): void => {
    for (const link of links ?? []) {
      const go = h("button", { type: "button", class: "link" }, link.title ?? link.href);
      go.addEventListener("click", () => {
        chrome.closePanels();
        active?.goLink(link, false, () => undefined);
      });
      const item = h("li", {}, go);
      if (link.children?.items.length) {
        const sub = h("ol", {});
        addToc(link.children.items, sub);
        item.append(sub);
      }
      list.append(item);
    }
  };
  addToc(manifest.toc?.items, tocList);
  const marks = h("ul", { id: "bookmarks", class: "bookmarks" });
  const jump = h("input", { id: "go-to-position", type: "number", min: "1", max: String(positions.length), inputmode: "numeric" }) as HTMLInputElement;
  const jumpForm = h("form", { class: "inline-form" }, field(t("goToPosition", { total: positions.length }), jump), h("button", { type: "submit" }, t("go")));
  jumpForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const locator = positions[Number(jump.value) - 1];
    if (!locator) return;
    chrome.closePanels();
    active?.go(locator, false, () => undefined);
  });
  contents.append(jumpForm, h("h3", {}, t("contents")), tocList, h("h3", {}, t("bookmarks")), marks);

  // -- search inside the book -----------------------------------------------------------------------------
  const searchBody = chrome.panel("panel-search", "searchInBook", t("searchInBookGo"));
  const query = h("input", { id: "book-search", type: "search" }) as HTMLInputElement;
  const hits = h("ol", { id: "book-search-results", class: "search-results", "aria-live": "polite" });
  const searchForm = h("form", { class: "inline-form", role: "search" }, field(t("searchInBook"), query), h("button", { type: "submit", id: "book-search-go" }, t("searchInBookGo")));
  searchBody.append(searchForm, hits);
  searchForm.addEventListener("submit", (event) => {
    event.preventDefault();
    hits.replaceChildren();
    if (!query.value.trim()) return;
    void (async () => {
      const response = await fetch(`${base}~sachso/search?q=${encodeURIComponent(query.value.trim())}`);
      const found = (await response.json()) as { locators: unknown[] };
      if (!found.locators.length) hits.append(h("li", {}, t("searchInBookNone")));
      for (const item of found.locators.slice(0, 30)) {
        const locator = Locator.deserialize(item);
        if (!locator) continue;
        const text = locator.text;
        const link = h("button", { type: "button", class: "link" }, text?.before ?? "", h("mark", {}, text?.highlight ?? ""), text?.after ?? "");
        link.addEventListener("click", () => {
          chrome.closePanels();
          active?.go(locator, false, () => undefined);
        });
        hits.append(h("li", {}, link));
      }
    })().catch(reportProblem);
  });

  // -- reading settings -----------------------------------------------------------------------------------
  const settings = chrome.panel("panel-settings", "readingSettings", t("readingSettingsShort"));
  const sizeValue = h("output", { id: "font-size-value", "aria-live": "polite" }, `${Math.round(prefs.fontSize * 100)}%`);
  const smaller = h("button", { type: "button", class: "secondary", id: "font-smaller" }, t("smaller"));
  const larger = h("button", { type: "button", class: "secondary", id: "font-larger" }, t("larger"));
  let navigator: EpubNavigator | null = null;
  const apply = async (): Promise<void> => {
    keepReadingPrefs(prefs);
    chrome.setTheme(prefs.theme);
    sizeValue.textContent = `${Math.round(prefs.fontSize * 100)}%`;
    await navigator?.submitPreferences(new EpubPreferences(navigatorPreferences(prefs)));
  };
  smaller.addEventListener("click", () => {
    prefs.fontSize = Math.max(0.7, Math.round((prefs.fontSize - 0.1) * 10) / 10);
    void apply();
  });
  larger.addEventListener("click", () => {
    prefs.fontSize = Math.min(2.5, Math.round((prefs.fontSize + 0.1) * 10) / 10);
    void apply();
  });
  settings.append(
    h("div", { class: "font-size", role: "group", "aria-labelledby": "font-size-label" }, h("span", { id: "font-size-label" }, t("fontSize")), smaller, sizeValue, larger),
    choices<Typeface>("typeface", "typeface", [["publisher", t("typefacePublisher")], ["literata", "Literata"], ["sans", t("typefaceSans")]], prefs.typeface, (value) => {
      prefs.typeface = value;
      void apply();
    }),
    choices<string>("line-height", "lineHeight", LINE_HEIGHTS.map((value) => [String(value), String(value).replace(".", t("decimalPoint"))]), String(prefs.lineHeight), (value) => {
      prefs.lineHeight = Number(value);
      void apply();
    }),
    choices<Margin>("margin", "margins", [["narrow", t("marginNarrow")], ["normal", t("marginNormal")], ["wide", t("marginWide")]], prefs.margin, (value) => {
      prefs.margin = value;
      void apply();
    }),
    choices<Theme>("theme", "theme", [["light", t("themeLight")], ["sepia", t("themeSepia")], ["dark", t("themeDark")]], prefs.theme, (value) => {
      prefs.theme = value;
      void apply();
    }),
    choices<string>("flow", "readingFlow", [["paged", t("flowPaged")], ["scroll", t("flowScroll")]], prefs.scroll ? "scroll" : "paged", (value) => {
      prefs.scroll = value === "scroll";
      void apply();
    }),
  );

  // -- bookmarks ------------------------------------------------------------------------------------------
  const addMark = (locator: Locator, label: string): void => {
    const go = h("button", { type: "button", class: "link" }, label);
    go.addEventListener("click", () => {
      chrome.closePanels();
      active?.go(locator, false, () => undefined);
    });
    marks.append(h("li", {}, go));
  };
  if (personal) chrome.topActions.append(
    actionButton(t("bookmark"), async () => {
      if (!current) return;
      const note = `${current.title ?? book.title} · ${t("pageShort")} ${current.locations?.position ?? ""}`;
      await sendOrQueue("bookmark", publicationId, { kind: "bookmark", locator: current.serialize(), note }); // offline: sent later
      addMark(current, note);
      announce(t("bookmarkSaved"));
    }, { class: "secondary", id: "bookmark-add" }),
  );
  if (personal) void api<Array<{ kind: string; locator: unknown; note: string }>>("reader", `/v1/reading/annotations/${publicationId}`, { auth: "patron" })
    .then((saved) => {
      for (const item of saved.filter((entry) => entry.kind === "bookmark")) {
        const locator = Locator.deserialize(item.locator);
        if (locator) addMark(locator, item.note || `${locator.locations?.position ?? ""}`);
      }
    })
    .catch(reportUnlessOffline);

  // -- the navigator ----------------------------------------------------------------------------------------
  let saveTimer: number | undefined;
  const openedAt = initial?.locations?.position ?? positions[0]?.locations?.position;
  let moved = false;
  // Left and right follow the reading direction; a book that declares none reads left to right (the
  // navigator's own goLeft/goRight do nothing for such books).
  const rtl = (): boolean => navigator?.readingProgression === "rtl";
  const turns: PageTurns = {
    left: () => void (rtl() ? navigator?.goForward(false, () => undefined) : navigator?.goBackward(false, () => undefined)),
    right: () => void (rtl() ? navigator?.goBackward(false, () => undefined) : navigator?.goForward(false, () => undefined)),
    backward: () => void navigator?.goBackward(false, () => undefined),
    forward: () => void navigator?.goForward(false, () => undefined),
  };
  /** Taps and clicks on the book (not on its links): the outer quarters turn the page, the middle shows or
   * hides the bars. ``x`` is in device pixels across the visible frames. */
  const onPointer = (event: { x: number }): boolean => {
    const width = container.getBoundingClientRect().width * window.devicePixelRatio;
    if (event.x < width / 4) turns.left();
    else if (event.x > (width * 3) / 4) turns.right();
    else chrome.immersive();
    return true;
  };
  const onKey = (event: KeyboardEvent): void => {
    pageKeys(event, turns);
  };
  const listeners: EpubNavigatorListeners = {
    frameLoaded: (wnd) => {
      // The book's frames are part of the reading screen: name them, and let page keys work inside them.
      for (const frame of container.querySelectorAll("iframe")) frame.title = t("bookFrame", { title: book.title });
      wnd.document.addEventListener("keydown", onKey);
    },
    positionChanged: (locator) => {
      const position = locator.locations?.position;
      const inChapter = positions.filter((item) => item.href === locator.href && (item.locations?.position ?? 0) > (position ?? 0)).length;
      progress.textContent = [
        position && positions.length ? t("pageOf", { page: position, total: positions.length }) : "",
        inChapter ? t("minutesLeftInChapter", { minutes: inChapter }) : "",
      ].filter(Boolean).join(" · ");
      container.dataset.href = locator.href;
      container.dataset.position = String(position ?? "");
      container.dataset.progression = String(locator.locations?.progression ?? "");
      current = locator;
      // Opening a book is not reading it: the place it opened at is not saved again, so a device that opens a
      // book at its start never overwrites the position another device is about to send.
      moved ||= position !== openedAt;
      if (!moved) return;
      window.clearTimeout(saveTimer);
      if (personal) saveTimer = window.setTimeout(() => {
        savePosition(publicationId, locator.serialize())
          .then(() => {
            container.dataset.saved = JSON.stringify(locator.serialize());
          })
          .catch(reportProblem);
      }, 400);
    },
    tap: onPointer,
    click: onPointer,
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
  await closeEpub();
  const fonts = new Blob([fontFaces], { type: "text/css" });
  navigator = new EpubNavigator(container, publication, listeners, positions, initial, {
    preferences: navigatorPreferences(prefs),
    defaults: {},
    injectables: {
      rules: [{ resources: [/.*/], prepend: [{ id: "sachso-fonts", as: "link", rel: "stylesheet", target: "head", blob: fonts }] }],
      allowedDomains: [window.location.origin],
    },
  });
  active = navigator;
  await navigator.load();
  container.dataset.ready = "true";
  if (initial) announce(t("positionRestored"));
  chrome.previous.addEventListener("click", turns.backward);
  chrome.next.addEventListener("click", turns.forward);
  activeKeys = onKey; // anywhere on the page, wherever the focus is
  document.addEventListener("keydown", onKey);
}
