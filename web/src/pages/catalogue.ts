// The catalogue: search without diacritics, filters (language, format, only what can be borrowed now), pages of
// results with a cover, format, language and availability ("Có sẵn", "Chờ ~N ngày", "Chưa có bản"): search
// answers it for the whole page at once, for the signed-in reader's library or, for a visitor, the network.

import { session, type SearchResult, type Title, api } from "../api";
import { field, h } from "../dom";
import { languageName, t } from "../i18n";
import { currentQuery, go, type Render } from "../router";
import { bookCard } from "./common";

const PAGE_SIZE = 12;

function availabilityBadge(item: Title): HTMLElement {
  const availability = item.availability;
  const state = !availability || !item.lendable ? "none" : availability.state;
  const text =
    state === "available" ? t("availableNow") : state === "wait" && availability?.wait_days ? t("waitDays", { n: availability.wait_days }) : state === "wait" ? t("waitingList", { holds: availability?.holds ?? 0 }) : t("noLicence");
  return h("p", { class: "badge", "data-availability": state }, text);
}

function titleCard(item: Title): HTMLElement {
  return bookCard(
    { "data-title": item.id },
    item,
    h("h2", {}, h("a", { href: `/title/${item.id}`, lang: item.language || undefined }, item.title)),
    item.authors.length ? h("p", { class: "meta" }, item.authors.join(", ")) : null,
    h("p", { class: "meta" }, [languageName(item.language), item.format ? t(item.format === "pdf" ? "format_pdf" : "format_epub") : "", item.online_only ? t("onlineOnly") : t("ebook")].filter(Boolean).join(" · ")),
    availabilityBadge(item),
  );
}

export const cataloguePage: Render = async (main) => {
  const params = currentQuery();
  const query = params.get("q") ?? "";
  const language = params.get("language") ?? "";
  const format = params.get("format") ?? "";
  const availableOnly = params.get("available") === "1";
  const page = Math.max(1, Number(params.get("page") ?? 1) || 1);
  const input = h("input", { name: "q", type: "search", value: query, id: "catalogue-q" }) as HTMLInputElement;
  const form = h("form", { class: "search", role: "search" }, field(t("searchLabel"), input), h("button", { type: "submit" }, t("search")));
  const target = (changes: Record<string, string>): string => {
    const next = new URLSearchParams({ q: query, language, format, available: availableOnly ? "1" : "", page: "1", ...changes });
    for (const [key, value] of [...next.entries()]) if (!value || (key === "page" && value === "1")) next.delete(key);
    const text = next.toString();
    return text ? `/?${text}` : "/";
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go(target({ q: input.value.trim() }));
  });
  main.append(h("h1", { id: "page-title", tabindex: -1 }, t("catalogueTitle")), form);
  const library = session("patron")?.library_id ?? undefined;
  const found = await api<SearchResult>("lending", "/v1/titles", {
    query: { q: query, language: language || undefined, format: format || undefined, available: availableOnly || undefined, for_library: library, page, size: PAGE_SIZE },
  });
  const languages = Object.entries(found.facets?.language ?? {});
  const languageFilter = h("select", { id: "filter-language" }, h("option", { value: "" }, t("allLanguages")), ...languages.map(([code, count]) => h("option", { value: code, selected: code === language }, `${languageName(code)} (${count})`))) as HTMLSelectElement;
  languageFilter.addEventListener("change", () => go(target({ language: languageFilter.value })));
  const formats = Object.entries(found.facets?.format ?? {}).filter(([code]) => code === "epub" || code === "pdf");
  const formatFilter = h("select", { id: "filter-format" }, h("option", { value: "" }, t("allFormats")), ...formats.map(([code, count]) => h("option", { value: code, selected: code === format }, `${t(code === "pdf" ? "format_pdf" : "format_epub")} (${count})`))) as HTMLSelectElement;
  formatFilter.addEventListener("change", () => go(target({ format: formatFilter.value })));
  const available = h("input", { type: "checkbox", id: "filter-available", checked: availableOnly }) as HTMLInputElement;
  available.addEventListener("change", () => go(target({ available: available.checked ? "1" : "" })));
  const pages = Math.max(1, Math.ceil(found.total / PAGE_SIZE));
  const pager = h(
    "nav",
    { class: "pagination", "aria-label": t("pagination") },
    page > 1 ? h("a", { href: target({ page: String(page - 1) }), rel: "prev" }, `‹ ${t("previousResults")}`) : null,
    h("span", {}, t("pageOf", { page, total: pages })),
    page < pages ? h("a", { href: target({ page: String(page + 1) }), rel: "next" }, `${t("nextResults")} ›`) : null,
  );
  main.append(
    h("div", { class: "filters" }, field(t("language"), languageFilter), field(t("formatLabel"), formatFilter), h("div", { class: "check" }, available, h("label", { for: "filter-available" }, t("availableOnly")))),
    h(
      "section",
      { id: "results", "aria-labelledby": "results-count" },
      h("p", { class: "meta", id: "results-count" }, found.total ? t("results", { count: found.total }) : t("noResults")),
      h("ul", { class: "book-list" }, ...found.items.map(titleCard)),
      pages > 1 ? pager : null,
    ),
  );
};
