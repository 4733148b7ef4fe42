// A small router on real paths (history API), so links in emails and push messages (/holds, /loans,
// /settings/notifications) open the right screen. Old "#/…" links are moved to their path on arrival.
// Whoever serves the app answers every unknown path with index.html (scripts/serve.mjs, deploy/images/web-nginx.conf).

export type Render = (main: HTMLElement, params: string[]) => Promise<void>;
export type Route = [RegExp, Render];

let onChange: () => void = () => undefined;

/** The current path, without query. */
export function currentPath(): string {
  return window.location.pathname.replace(/\/+$/, "") || "/";
}

/** The current query parameters. */
export function currentQuery(): URLSearchParams {
  return new URLSearchParams(window.location.search);
}

/** Goes to ``target`` (a path with an optional query) inside the app. */
export function go(target: string, { replace = false } = {}): void {
  if (replace) window.history.replaceState(null, "", target);
  else window.history.pushState(null, "", target);
  onChange();
}

/** The route and its parameters for ``path``. */
export function match(routes: Route[], path: string): [Render, string[]] | null {
  for (const [pattern, render] of routes) {
    const found = pattern.exec(path);
    if (found) return [render, found.slice(1).map((value) => decodeURIComponent(value ?? ""))];
  }
  return null;
}

/** Follows in-app links without a page load, back/forward buttons, and legacy "#/…" addresses. */
export function startRouter(render: () => void): void {
  onChange = render;
  if (window.location.hash.startsWith("#/")) {
    window.history.replaceState(null, "", window.location.hash.slice(1));
  }
  window.addEventListener("popstate", () => onChange());
  document.addEventListener("click", (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const link = (event.target as Element | null)?.closest?.("a");
    if (!link || link.target || link.hasAttribute("download")) return;
    const url = new URL(link.href, window.location.href);
    if (url.origin !== window.location.origin || url.pathname.startsWith("/api/")) return;
    if (url.pathname === window.location.pathname && url.search === window.location.search && url.hash) return;
    event.preventDefault();
    go(url.pathname + url.search);
  });
}
