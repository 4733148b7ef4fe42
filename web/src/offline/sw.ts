// The app's service worker (built by vite-plugin-pwa with Workbox's injectManifest): the app shell precached so
// the app opens without a connection; the patron's last shelf (loans, holds, titles) answered from cache when
// the network fails; downloaded books served from Cache Storage only while their loan lasts by the device's
// clock; and Web Push: a message shows a notification whose click opens the app at the message's page.

/// <reference lib="webworker" />
import { clientsClaim } from "workbox-core";
import { cleanupOutdatedCaches, createHandlerBoundToURL, precacheAndRoute } from "workbox-precaching";
import { NavigationRoute, registerRoute } from "workbox-routing";
import { NetworkFirst } from "workbox-strategies";
import { API_CACHE, cacheName, forgetBook, lastServerTime, OFFLINE_PREFIX, offlineBook, openable } from "./store";

declare const self: ServiceWorkerGlobalScope & { __WB_MANIFEST: Array<{ url: string; revision: string | null }> };

self.skipWaiting();
clientsClaim();
cleanupOutdatedCaches();
precacheAndRoute(self.__WB_MANIFEST);
registerRoute(new NavigationRoute(createHandlerBoundToURL("/index.html"), { denylist: [/^\/api\//, /^\/offline\//] }));

/** The subject of a bearer token (not verified: it only keeps one patron's cached answers from another's). */
function subjectOf(request: Request): string | null {
  const token = request.headers.get("Authorization")?.replace(/^Bearer /, "");
  if (!token) return null;
  try {
    const claims = JSON.parse(atob((token.split(".")[1] ?? "").replace(/-/g, "+").replace(/_/g, "/"))) as { sub?: unknown };
    return typeof claims.sub === "string" ? claims.sub : null;
  } catch {
    return null;
  }
}

// The shelf as it last was: the patron's loans, holds and her account, and the titles' records, from the network
// when it answers and from cache when it does not. Each patron's answers are cached under her own key.
const shelfAnswers = new NetworkFirst({
  cacheName: API_CACHE,
  networkTimeoutSeconds: 10,
  plugins: [
    {
      cacheKeyWillBeUsed: async ({ request }) => {
        const url = new URL(request.url);
        url.searchParams.set("__patron", subjectOf(request) ?? "-");
        return url.href;
      },
      cacheWillUpdate: async ({ response }) => (response.status === 200 ? response : null),
      // Marked, so the app can tell the shelf as it last was from a fresh answer (and never deletes a download
      // because of an old list).
      cachedResponseWillBeUsed: async ({ cachedResponse }) => {
        if (!cachedResponse) return null;
        const headers = new Headers(cachedResponse.headers);
        headers.set("X-Sachso-From-Cache", "1");
        return new Response(await cachedResponse.blob(), { status: cachedResponse.status, statusText: cachedResponse.statusText, headers });
      },
    },
  ],
});
registerRoute(({ url, request, sameOrigin }) => sameOrigin && request.method === "GET" && /^\/api\/lending\/v1\/(loans|holds|me|titles\/[\w-]+)$/.test(url.pathname), shelfAnswers);
registerRoute(({ url, sameOrigin }) => sameOrigin && url.pathname === "/config.json", new NetworkFirst({ cacheName: "sachso-config", networkTimeoutSeconds: 5 }));

// A downloaded book, only while its loan lasts: a copy past its end (or with the clock turned back) is refused,
// and one whose loan has ended is deleted here as well as by the app.
const PDF_PAGE = /\/~sachso\/pages\/\d+$/;
// What the reader service sends with every resource (services/reader/entrypoints/responses.py), sent with every
// stored byte too: a stored chapter loaded as a document of its own (a book's <iframe>, a link, an address typed)
// is an opaque origin with scripts off, never a page of the app's origin that could read the patron's session.
const BOOK_HEADERS: Record<string, string> = {
  "Content-Security-Policy": "default-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; font-src 'self' data:; media-src 'self'; sandbox",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
};
registerRoute(
  ({ url, sameOrigin }) => sameOrigin && url.pathname.startsWith(OFFLINE_PREFIX),
  async ({ url, request }) => {
    const loanId = decodeURIComponent(url.pathname.slice(OFFLINE_PREFIX.length).split("/")[0] ?? "");
    const book = await offlineBook(loanId);
    const verdict = book ? openable(book, Date.now(), await lastServerTime()) : "missing";
    if (verdict === "ended") await forgetBook(loanId);
    if (verdict !== "ok") return new Response(null, { status: verdict === "missing" ? 404 : 403, headers: { "X-Offline-Refused": verdict } });
    const cache = await caches.open(cacheName(loanId));
    // PDF pages were stored at the device's width: any width asked for is answered with that page.
    const found = await cache.match(request.url, { ignoreSearch: PDF_PAGE.test(url.pathname) });
    if (!found) return new Response(null, { status: 404, headers: BOOK_HEADERS });
    const headers = new Headers(found.headers);
    for (const [name, value] of Object.entries(BOOK_HEADERS)) headers.set(name, value);
    return new Response(found.body, { status: found.status, statusText: found.statusText, headers });
  },
);

// -- Web Push ----------------------------------------------------------------------------------------------------

interface PushPayload {
  id?: string;
  kind?: string;
  lang?: string;
  title?: string;
  body?: string;
  url?: string;
}

/** Only a path of this app is ever opened from a notification. */
function appPath(value: unknown): string {
  return typeof value === "string" && value.startsWith("/") && !value.startsWith("//") ? value : "/inbox";
}

self.addEventListener("push", (event) => {
  let payload: PushPayload = {};
  try {
    payload = (event.data?.json() ?? {}) as PushPayload;
  } catch {
    payload = { body: event.data?.text() ?? "" };
  }
  event.waitUntil(
    self.registration.showNotification(payload.title || "Sách Số", {
      body: payload.body ?? "",
      lang: payload.lang,
      tag: payload.id,
      icon: "/icons/icon-192.png",
      badge: "/icons/icon-192.png",
      data: { url: appPath(payload.url), kind: payload.kind ?? "" },
    }),
  );
});

/** Opens ``path`` in the app: in a window already open (brought forward) or in a new one. */
async function openApp(path: string): Promise<void> {
  const target = new URL(path, self.location.origin).href;
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const open = windows.find((client) => new URL(client.url).origin === self.location.origin);
  if (open) {
    const navigated = (await open.navigate(target)) ?? open;
    await navigated.focus().catch(() => undefined); // focus needs the click's user activation
    return;
  }
  await self.clients.openWindow(target);
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const opening = openApp(appPath((event.notification.data as { url?: unknown } | null)?.url));
  if (event.isTrusted) event.waitUntil(opening);
});
