// A downloaded EPUB's chapters with their pictures, style sheets and fonts, offline. Readium's navigator shows each
// chapter in a frame loaded from a blob: URL, and Chromium puts no such frame under the service worker: the
// chapter's own requests (<img>, <link rel=stylesheet>, CSS url()s) go to the network and fail without a
// connection. So a stored chapter is rewritten as Readium fetches it (through the service worker, which checks the
// loan): each sub-resource of the same publication becomes a blob: URL of its stored bytes (the frame's CSP allows
// blob:), a style sheet with its own url()s and @imports rewritten the same way. The blob: URLs live as long as
// the book is open.

import type { FetchImplementation } from "@readium/shared";
import { OFFLINE_PREFIX } from "./store";

/** True when ``base`` is a stored copy's address (offline/store.ts ``offlinePath``). */
export function isOfflineBase(base: string): boolean {
  return new URL(base, window.location.origin).pathname.startsWith(OFFLINE_PREFIX);
}

const HTML_TYPE = /^\s*(text\/html|application\/xhtml\+xml)/i;
/** What a chapter's pictures, media and fonts may be as blob: URLs of the app's origin: never anything a browser
 * would run (the book decides its files' types; the app's CSP allows blob: scripts for Readium's own). */
const MEDIA_TYPE = /^\s*(image\/|audio\/|video\/|font\/|text\/vtt|application\/(font-|x-font-|vnd\.ms-opentype))/i;
const FONT_FILE = /\.(ttf|otf|woff2?)$/i;
/** A CSS url(…) (quoted or not) or an @import "…" (an @import url(…) is matched as a url()). */
const CSS_REFERENCE = /url\(\s*(?:"([^"]*)"|'([^']*)'|([^)"'\s]*))\s*\)|@import\s+(?:"([^"]*)"|'([^']*)')/g;
const XLINK = "http://www.w3.org/1999/xlink";

/** Attributes naming one resource, by element (the local name, as in XHTML and in SVG inside it). Only what is
 * shown, never what runs or holds a document (script, iframe, object, embed): a blob: URL has the app's origin. */
const SINGLE: Array<[string, string]> = [
  ["img", "src"],
  ["source", "src"],
  ["video", "src"],
  ["video", "poster"],
  ["audio", "src"],
  ["track", "src"],
  ["input", "src"],
  ["image", "href"],
];

function urlOf(input: RequestInfo | URL): string {
  return typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
}

/** One open book's chapters, rewritten for reading offline; ``release`` frees the blob: URLs when it closes. */
export class OfflineChapters {
  private readonly blobs = new Map<string, Promise<string | null>>();
  /** Style sheets being rewritten: one that another in flight imports is left as it was (two sheets importing
   * each other, both linked by a chapter, would otherwise wait for each other for ever). */
  private readonly sheetsInFlight = new Set<string>();
  private readonly base: string;

  constructor(base: string) {
    this.base = new URL(base, window.location.origin).href;
  }

  /** For Readium's HttpFetcher: a chapter (HTML or XHTML) rewritten, anything else as the service worker answers. */
  readonly fetch: FetchImplementation = async (input, init) => {
    const response = await fetch(input, init);
    const type = response.headers.get("Content-Type") ?? "";
    if (!response.ok || (init?.method ?? "GET").toUpperCase() !== "GET" || !HTML_TYPE.test(type)) return response;
    const text = await this.chapter(await response.text(), new URL(urlOf(input), window.location.origin).href, type);
    const headers = new Headers(response.headers);
    headers.delete("Content-Length");
    return new Response(text, { status: response.status, statusText: response.statusText, headers });
  };

  /** Frees every blob: URL made for this book. */
  release(): void {
    for (const made of this.blobs.values()) void made.then((url) => url && URL.revokeObjectURL(url));
    this.blobs.clear();
  }

  private async chapter(source: string, url: string, type: string): Promise<string> {
    const html = /text\/html/i.test(type);
    const doc = new DOMParser().parseFromString(source, html ? "text/html" : "application/xhtml+xml");
    if (doc.querySelector("parsererror")) return source; // left as it was: Readium reports it
    const jobs: Array<Promise<void>> = [];
    const swap = (element: Element, attribute: string, namespace: string | null = null): void => {
      const value = element.getAttributeNS(namespace, attribute);
      if (!value) return;
      jobs.push(
        this.resolve(value, url).then((inline) => {
          if (inline) element.setAttributeNS(namespace, attribute, inline);
        }),
      );
    };
    for (const [tag, attribute] of SINGLE) for (const element of doc.querySelectorAll(`${tag}[${attribute}]`)) swap(element, attribute);
    for (const element of doc.getElementsByTagNameNS("http://www.w3.org/2000/svg", "image")) swap(element, "href", XLINK);
    for (const element of doc.querySelectorAll("img[srcset], source[srcset]")) {
      jobs.push(this.srcset(element.getAttribute("srcset") ?? "", url).then((value) => element.setAttribute("srcset", value)));
    }
    for (const element of doc.querySelectorAll("link[href]")) {
      if (!/(^|\s)stylesheet(\s|$)/i.test(element.getAttribute("rel") ?? "")) continue;
      jobs.push(
        this.resolve(element.getAttribute("href") ?? "", url, true).then((inline) => {
          if (inline) element.setAttribute("href", inline);
        }),
      );
    }
    for (const element of doc.querySelectorAll("style")) {
      jobs.push(
        this.css(element.textContent ?? "", url, [url]).then((text) => {
          element.textContent = text;
        }),
      );
    }
    for (const element of doc.querySelectorAll("[style]")) {
      jobs.push(this.css(element.getAttribute("style") ?? "", url, [url]).then((text) => element.setAttribute("style", text)));
    }
    await Promise.all(jobs);
    return html ? `<!DOCTYPE html>\n${doc.documentElement.outerHTML}` : new XMLSerializer().serializeToString(doc);
  }

  private async srcset(value: string, from: string): Promise<string> {
    const candidates = value.split(",").map((candidate) => candidate.trim()).filter(Boolean);
    const rewritten = await Promise.all(
      candidates.map(async (candidate) => {
        const [href = "", ...descriptor] = candidate.split(/\s+/);
        return [(await this.resolve(href, from)) ?? href, ...descriptor].join(" ");
      }),
    );
    return rewritten.join(", ");
  }

  /** A blob: URL (with the reference's #fragment) for a reference inside this publication, else null (left as is). */
  private async resolve(reference: string, from: string, stylesheet = false, chain: string[] = []): Promise<string | null> {
    if (!reference || reference.startsWith("#")) return null;
    let target: URL;
    try {
      target = new URL(reference, from);
    } catch {
      return null;
    }
    const hash = target.hash;
    target.hash = "";
    const key = target.href;
    if (!key.startsWith(this.base) || chain.includes(key) || (chain.length && this.sheetsInFlight.has(key))) return null;
    let made = this.blobs.get(key);
    if (!made) {
      made = this.stored(key, stylesheet, [...chain, from]);
      this.blobs.set(key, made);
    }
    const inline = await made;
    return inline && inline + hash;
  }

  private async stored(url: string, stylesheet: boolean, chain: string[]): Promise<string | null> {
    try {
      const response = await fetch(url);
      if (!response.ok) return null;
      const type = response.headers.get("Content-Type") ?? "";
      const path = new URL(url).pathname;
      if (stylesheet || /^\s*text\/css/i.test(type) || /\.css$/i.test(path)) {
        this.sheetsInFlight.add(url);
        try {
          return URL.createObjectURL(new Blob([await this.css(await response.text(), url, [...chain, url])], { type: "text/css" }));
        } finally {
          this.sheetsInFlight.delete(url);
        }
      }
      const media = MEDIA_TYPE.test(type) ? type : FONT_FILE.test(path) ? "font/sfnt" : null;
      if (media === null) return null; // a script, a page…: left as it was, never a blob of ours
      return URL.createObjectURL(new Blob([await response.arrayBuffer()], { type: media }));
    } catch {
      return null; // not stored (or refused): the frame asks the network for it, as it would have
    }
  }

  /** ``text`` (a style sheet or a style attribute) with its references inside this publication inlined. */
  private async css(text: string, from: string, chain: string[]): Promise<string> {
    const found = [...text.matchAll(CSS_REFERENCE)];
    if (!found.length) return text;
    const inline = await Promise.all(found.map((match) => this.resolve(match[1] ?? match[2] ?? match[3] ?? match[4] ?? match[5] ?? "", from, false, chain)));
    let out = "";
    let at = 0;
    found.forEach((match, index) => {
      const made = inline[index];
      out += text.slice(at, match.index) + (made ? (match[0].startsWith("@") ? `@import "${made}"` : `url("${made}")`) : match[0]);
      at = match.index + match[0].length;
    });
    return out + text.slice(at);
  }
}
