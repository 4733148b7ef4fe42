// The app shell: header and navigation, language switch, and a hash router (static hosting needs no rewrites).

import "./style.css";
import { loadConfig, session, signOut } from "./api";
import { h } from "./dom";
import { currentLanguage, setLanguage, t } from "./i18n";
import { applyPage, cataloguePage, holdsPage, inboxPage, loansPage, problem, type Render, signInPage, stopLiveInbox, titlePage } from "./patron";
import { closeReader, readPage } from "./reader";
import { staffPage, staffSignInPage } from "./staff";

const routes: Array<[RegExp, Render]> = [
  [/^\/?$/, cataloguePage],
  [/^\/signin$/, signInPage],
  [/^\/apply$/, applyPage],
  [/^\/title\/([\w-]+)$/, titlePage],
  [/^\/loans$/, loansPage],
  [/^\/holds$/, holdsPage],
  [/^\/inbox$/, inboxPage],
  [/^\/read\/([\w-]+)$/, readPage],
  [/^\/staff\/signin$/, staffSignInPage],
  [/^\/staff(?:\/([\w-]+))?$/, staffPage],
];

function header(): void {
  const patron = session("patron");
  const staff = session("staff");
  const link = (href: string, label: string) => h("li", {}, h("a", { href }, label));
  const signOutButton = (kind: "patron" | "staff") => {
    const button = h("button", { type: "button" }, t("navSignOut"));
    button.addEventListener("click", () => {
      signOut(kind);
      window.location.hash = kind === "staff" ? "#/staff/signin" : "#/";
      void render();
    });
    return h("li", {}, button);
  };
  const other = currentLanguage() === "vi" ? "en" : "vi";
  const languageButton = h("button", { type: "button", lang: other, "aria-label": `${t("language")}: ${other === "en" ? "English" : "Tiếng Việt"}` }, other === "en" ? "English" : "Tiếng Việt");
  languageButton.addEventListener("click", () => {
    setLanguage(other);
    void render();
  });
  document.getElementById("header")?.replaceChildren(
    h("a", { href: "#/", class: "brand" }, t("appName")),
    h(
      "nav",
      { "aria-label": t("appName") },
      h(
        "ul",
        {},
        link("#/", t("navCatalogue")),
        patron ? link("#/loans", t("navLoans")) : null,
        patron ? link("#/holds", t("navHolds")) : null,
        patron ? link("#/inbox", t("navInbox")) : null,
        patron ? h("li", { class: "who" }, t("signedInAs", { name: patron.name })) : null,
        patron ? signOutButton("patron") : link("#/signin", t("navSignIn")),
        patron ? null : link("#/apply", t("navApply")),
        link(staff ? "#/staff" : "#/staff/signin", t("navStaff")),
        staff ? signOutButton("staff") : null,
        h("li", {}, languageButton),
      ),
    ),
  );
  const skip = document.getElementById("skip-link");
  if (skip) skip.textContent = t("skip");
}

let rendering = 0;

async function render(): Promise<void> {
  const ticket = ++rendering;
  const path = window.location.hash.replace(/^#/, "").split("?")[0] ?? "";
  await closeReader();
  stopLiveInbox();
  header();
  const main = document.getElementById("main") as HTMLElement;
  main.replaceChildren(h("p", { class: "meta" }, t("loading")));
  main.setAttribute("aria-busy", "true");
  const found = routes.find(([pattern]) => pattern.test(path));
  const page = h("div", { class: "page" });
  try {
    if (!found) page.append(h("h1", { id: "page-title", tabindex: -1 }, t("notFound")));
    else {
      const [pattern, renderPage] = found;
      const params = (pattern.exec(path) ?? []).slice(1).map((value) => value ?? "");
      main.replaceChildren(page);
      await renderPage(page, params);
    }
  } catch (error) {
    problem(error);
  }
  if (ticket !== rendering) return;
  if (!page.isConnected) main.replaceChildren(page);
  main.removeAttribute("aria-busy");
  document.title = `${document.getElementById("page-title")?.textContent ?? ""} · ${t("appName")}`;
  (document.getElementById("page-title") as HTMLElement | null)?.focus({ preventScroll: true });
}

document.getElementById("skip-link")?.addEventListener("click", (event) => {
  event.preventDefault();
  document.getElementById("main")?.focus();
});
setLanguage(currentLanguage());
window.addEventListener("hashchange", () => void render());
loadConfig()
  .then(render)
  .catch((error: unknown) => problem(error));
