// The catalogue: search without diacritics, filters (language, only what I can borrow now), pages of results
// with a cover, the language and, for a signed-in reader, whether she can borrow it now.

import { api, session, type SearchResult, type Title } from "../api";
import { field, h, reportProblem } from "../dom";
import { languageName, t } from "../i18n";
import { currentQuery, go, type Render } from "../router";
import { bookCard } from "./common";

const PAGE_SIZE = 12;

function availabilityBadge(item: Title): HTMLElement {
  const badge = h("p", { class: "badge", "data-availability": "" });
  const show = (kind: string, text: string): void => {
    badge.dataset.availability = kind;
    badge.textContent = text;
  };
  const patron = session("patron");
  if (!item.library_ids.length) show("none", t("noLicence"));
  else if (!patron) show("unknown", t("availabilitySignIn"));
  else {
    show("unknown", t("loading"));
    api<Title>("lending", `/v1/titles/${encodeURIComponent(item.id)}`, { query: { library: patron.library_id ?? undefined } })
      .then((detail) => {
        const a = detail.availability;
        if (!a || a.copies === 0) show("none", t("noLicence"));
        else if (a.copies === null || (a.available ?? 0) > 0) show("available", t("availableNow"));
        else show("wait", t("waitingList", { holds: a.holds }));
      })
      .catch(reportProblem);
  }
  return badge;
}

function titleCard(item: Title): HTMLElement {
  return bookCard(
    { "data-title": item.id },
    item,
    h("h2", {}, h("a", { href: `/title/${item.id}`, lang: item.language || undefined }, item.title)),
    item.authors.length ? h("p", { class: "meta" }, item.authors.join(", ")) : null,
    h("p", { class: "meta" }, [languageName(item.language), item.online_only ? t("onlineOnly") : t("ebook")].filter(Boolean).join(" · ")),
    availabilityBadge(item),
  );
}

export const cataloguePage: Render = async (main) => {
  const params = currentQuery();
  const query = params.get("q") ?? "";
  const language = params.get("language") ?? "";
  const page = Math.max(1, Number(params.get("page") ?? 1) || 1);
  const input = h("input", { name: "q", type: "search", value: query, id: "catalogue-q" }) as HTMLInputElement;
  const form = h("form", { class: "search", role: "search" }, field(t("searchLabel"), input), h("button", { type: "submit" }, t("search")));
  const target = (changes: Record<string, string>): string => {
    const next = new URLSearchParams({ q: query, language, page: "1", ...changes });
    for (const [key, value] of [...next.entries()]) if (!value || (key === "page" && value === "1")) next.delete(key);
    const text = next.toString();
    return text ? `/?${text}` : "/";
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go(target({ q: input.value.trim() }));
  });
  main.append(h("h1", { id: "page-title", tabindex: -1 }, t("catalogueTitle")), form);
  const found = await api<SearchResult>("lending", "/v1/titles", { query: { q: query, language: language || undefined, page, size: PAGE_SIZE } });
  const languages = Object.entries(found.facets?.language ?? {});
  const filter = h("select", { id: "filter-language" }, h("option", { value: "" }, t("allLanguages")), ...languages.map(([code, count]) => h("option", { value: code, selected: code === language }, `${languageName(code)} (${count})`))) as HTMLSelectElement;
  filter.addEventListener("change", () => go(target({ language: filter.value })));
  const pages = Math.max(1, Math.ceil(found.total / PAGE_SIZE));
  const pager = h(
    "nav",
    { class: "pagination", "aria-label": t("pagination") },
    page > 1 ? h("a", { href: target({ page: String(page - 1) }), rel: "prev" }, `‹ ${t("previousResults")}`) : null,
    h("span", {}, t("pageOf", { page, total: pages })),
    page < pages ? h("a", { href: target({ page: String(page + 1) }), rel: "next" }, `${t("nextResults")} ›`) : null,
  );
  main.append(
    h("div", { class: "filters" }, field(t("language"), filter)),
    h(
      "section",
      { id: "results", "aria-labelledby": "results-count" },
      h("p", { class: "meta", id: "results-count" }, found.total ? t("results", { count: found.total }) : t("noResults")),
      h("ul", { class: "book-list" }, ...found.items.map(titleCard)),
      pages > 1 ? pager : null,
    ),
  );
};
