// The app shell: a compact header (a menu on phones), the language switch, the unread badge, and the router.
// The reading screen takes the whole viewport: the header is hidden while a book is open.

import "./style.css";
import { loadConfig, session, signOut } from "./api";
import { h, setProblemReporter } from "./dom";
import { currentLanguage, setLanguage, t } from "./i18n";
import { accountPage, applyPage, signInPage } from "./pages/account";
import { cataloguePage } from "./pages/catalogue";
import { staffProgressPage } from "./documents/progress";
import { staffDocumentPage, staffDocumentsPage } from "./documents/staff";
import { documentViewerPage } from "./documents/viewer";
import { inboxPage, stopLiveInbox, unreadCount } from "./pages/inbox";
import { shelfPage } from "./pages/shelf";
import { titlePage } from "./pages/title";
import { startOfflineFeatures } from "./offline";
import { readingProblem, reportFailure } from "./problems";
import { closeReader, openReadPage, readPage } from "./reader";
import { currentPath, go, match, type Route, startRouter } from "./router";
import { staffAccountsPage } from "./staff/accounts";
import { staffPage, staffSignInPage } from "./staff/desk";
import { staffPatronsPage } from "./staff/patrons";
import { staffTitlesPage } from "./staff/titles";

const routes: Route[] = [
  [/^\/$/, cataloguePage],
  [/^\/signin$/, signInPage],
  [/^\/apply$/, applyPage],
  [/^\/title\/([\w-]+)$/, titlePage],
  [/^\/(?:shelf|loans|holds)$/, shelfPage],
  [/^\/inbox$/, inboxPage],
  [/^\/(?:account|settings\/notifications)$/, accountPage],
  [/^\/read\/open\/([\w-]+)$/, openReadPage],
  [/^\/read\/([\w-]+)$/, readPage],
  [/^\/staff\/signin$/, staffSignInPage],
  [/^\/staff\/([\w-]+)\/titles$/, staffTitlesPage],
  [/^\/staff\/([\w-]+)\/patrons$/, staffPatronsPage],
  [/^\/staff\/([\w-]+)\/accounts$/, staffAccountsPage],
  [/^\/staff\/([\w-]+)\/documents$/, staffDocumentsPage],
  [/^\/staff\/([\w-]+)\/documents\/([\w-]+)$/, staffDocumentPage],
  [/^\/staff\/([\w-]+)\/progress$/, staffProgressPage],
  [/^\/documents\/([\w-]+)$/, documentViewerPage],
  [/^\/staff(?:\/([\w-]+))?$/, staffPage],
];

function header(): void {
  const patron = session("patron");
  const staff = session("staff");
  const path = currentPath();
  const link = (href: string, label: string, extra?: HTMLElement | null) =>
    h("li", {}, h("a", { href, "aria-current": path === href ? "page" : undefined }, label, extra ?? null));
  const signOutButton = (kind: "patron" | "staff") => {
    const button = h("button", { type: "button" }, t("navSignOut"));
    button.addEventListener("click", () => {
      signOut(kind);
      go(kind === "staff" ? "/staff/signin" : "/");
    });
    return h("li", {}, button);
  };
  const other = currentLanguage() === "vi" ? "en" : "vi";
  const languageButton = h("button", { type: "button", lang: other }, other === "en" ? "English" : "Tiếng Việt");
  languageButton.addEventListener("click", () => {
    setLanguage(other);
    void render();
  });
  const badge = h("span", { class: "badge-count", id: "unread-badge", hidden: true });
  const nav = h(
    "nav",
    { id: "site-nav", "aria-label": t("menu") },
    h(
      "ul",
      {},
      link("/", t("navCatalogue")),
      patron ? link("/shelf", t("navShelf")) : null,
      patron ? link("/inbox", t("navInbox"), badge) : null,
      patron ? link("/account", t("navAccount")) : null,
      patron ? signOutButton("patron") : link("/signin", t("navSignIn")),
      patron ? null : link("/apply", t("navApply")),
      link(staff ? "/staff" : "/staff/signin", t("navStaff")),
      staff ? signOutButton("staff") : null,
      h("li", {}, languageButton),
    ),
  );
  const menu = h("button", { type: "button", class: "menu-button", "aria-expanded": "false", "aria-controls": "site-nav" }, t("menu"));
  menu.addEventListener("click", () => {
    const open = menu.getAttribute("aria-expanded") !== "true";
    menu.setAttribute("aria-expanded", String(open));
    nav.classList.toggle("open", open);
  });
  document.getElementById("header")?.replaceChildren(h("div", { class: "header-row" }, h("a", { href: "/", class: "brand" }, t("appName")), menu), nav);
  const skip = document.getElementById("skip-link");
  if (skip) skip.textContent = t("skip");
  if (patron) void showUnread(badge);
}

async function showUnread(badge: HTMLElement): Promise<void> {
  try {
    const count = await unreadCount();
    badge.hidden = count === 0;
    badge.textContent = String(count);
    badge.setAttribute("aria-label", t("unreadBadge", { n: count }));
  } catch {
    badge.hidden = true; // the badge is a hint: the inbox page says what failed
  }
}

let rendering = 0;

async function render(): Promise<void> {
  const ticket = ++rendering;
  const path = currentPath();
  await closeReader();
  stopLiveInbox();
  const reading = path.startsWith("/read/");
  document.body.classList.toggle("reading", reading);
  header();
  const main = document.getElementById("main") as HTMLElement;
  main.replaceChildren(h("p", { class: "meta" }, t("loading")));
  main.setAttribute("aria-busy", "true");
  const found = match(routes, path);
  const page = h("div", { class: reading ? "page reading-page" : "page" });
  try {
    if (!found) page.append(h("h1", { id: "page-title", tabindex: -1 }, t("notFound")));
    else {
      main.replaceChildren(page);
      await found[0](page, found[1]);
    }
  } catch (error) {
    if (ticket === rendering) {
      reportFailure(error);
      if (reading && !page.hasChildNodes()) {
        const openTitle = found?.[0] === openReadPage ? found[1][0] : undefined; // the route already parsed it
        const back = openTitle ? { href: `/title/${encodeURIComponent(openTitle)}`, label: t("backToTitle") } : { href: "/shelf", label: t("backToShelf") };
        page.append(readingProblem(error, back));
      }
    }
  }
  if (ticket !== rendering) return;
  if (!page.isConnected) main.replaceChildren(page);
  main.removeAttribute("aria-busy");
  document.title = `${document.getElementById("page-title")?.textContent ?? ""} · ${t("appName")}`;
  (document.getElementById("page-title") as HTMLElement | null)?.focus({ preventScroll: true });
}

setProblemReporter(reportFailure);
document.getElementById("skip-link")?.addEventListener("click", (event) => {
  event.preventDefault();
  document.getElementById("main")?.focus();
});
document.addEventListener("sachso:inbox-changed", () => {
  const badge = document.getElementById("unread-badge");
  if (badge) void showUnread(badge);
});
setLanguage(currentLanguage());
startOfflineFeatures();
startRouter(() => void render());
loadConfig()
  .then(render)
  .catch(reportFailure);
