// Librarians' titles page: find a title, correct its record, lend it online only (rare documents), open it to
// everyone (public domain, open learning material), and record a licence the library acquired.

import { api, type SearchResult, type Title } from "../api";
import { announce, busy, field, h, reportProblem } from "../dom";
import { t } from "../i18n";
import { currentQuery, go, type Render } from "../router";
import { staffContext, staffHeader, type StaffContext } from "./common";

function editForm(item: Title & { description?: string }): HTMLElement {
  const input = (name: string, value: string) => h("input", { name, value, id: `edit-${item.id}-${name}` }) as HTMLInputElement;
  const titleInput = input("title", item.title);
  const subtitle = input("subtitle", item.subtitle);
  const authors = input("authors", item.authors.join("; "));
  const language = input("language", item.language);
  const subjects = input("subjects", item.subjects.join("; "));
  const form = h("form", { class: "wide" }, field(t("titleField"), titleInput), field(t("subtitle"), subtitle), field(t("authors"), authors, t("separatedBySemicolons")), field(t("language"), language), field(t("subjects"), subjects, t("separatedBySemicolons")), h("button", { type: "submit", class: "primary" }, t("save")));
  const list = (value: string) => value.split(";").map((part) => part.trim().normalize("NFC")).filter(Boolean);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(form, async () => {
      await api("lending", `/v1/titles/${item.id}`, {
        auth: "staff",
        method: "PUT",
        body: { title: titleInput.value.normalize("NFC"), subtitle: subtitle.value.normalize("NFC"), authors: list(authors.value), language: language.value.trim(), subjects: list(subjects.value), description: item.description ?? "" },
      });
      announce(t("saved"));
    }, t("working")).catch(reportProblem);
  });
  return form;
}

function licenceForm(item: Title, context: StaffContext): HTMLElement {
  const owner = h("select", { name: "owner" }, ...context.libraries.map((lib) => h("option", { value: lib.id, selected: lib.id === context.libraryId }, lib.name))) as HTMLSelectElement;
  const model = h("select", { name: "model" }, ...["one-copy-one-user", "simultaneous-use", "metered", "time-limited", "odl"].map((value) => h("option", { value }, t(`model_${value}` as "model_odl")))) as HTMLSelectElement;
  const copies = h("input", { type: "number", min: "1", value: "1", name: "concurrency" }) as HTMLInputElement;
  const checkouts = h("input", { type: "number", min: "1", name: "checkouts" }) as HTMLInputElement;
  const expires = h("input", { type: "date", name: "expires" }) as HTMLInputElement;
  const sharing = h("select", { name: "sharing" }, h("option", { value: "subtree" }, t("sharingSubtree")), h("option", { value: "own" }, t("sharingOwn"))) as HTMLSelectElement;
  const form = h("form", { class: "wide" }, field(t("licenceOwner"), owner), field(t("licenceModel"), model), h("div", { class: "row" }, field(t("licenceCopies"), copies, t("licenceCopiesHelp")), field(t("licenceCheckouts"), checkouts), field(t("licenceExpires"), expires)), field(t("licenceSharing"), sharing), h("button", { type: "submit", class: "primary" }, t("addLicence")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(form, async () => {
      await api("lending", `/v1/titles/${item.id}/licenses`, {
        auth: "staff",
        body: {
          owner_library_id: owner.value,
          model: model.value,
          concurrency: model.value === "simultaneous-use" ? null : Number(copies.value || 1),
          checkouts: checkouts.value ? Number(checkouts.value) : null,
          expires_at: expires.value ? new Date(`${expires.value}T23:59:59+07:00`).toISOString() : null,
          sharing: sharing.value,
        },
      });
      announce(t("licenceAdded"));
    }, t("working")).catch(reportProblem);
  });
  return form;
}

function titleItem(item: Title, context: StaffContext): HTMLElement {
  const online = h("input", { type: "checkbox", id: `online-${item.id}`, checked: !!item.online_only }) as HTMLInputElement;
  online.addEventListener("change", () => {
    void busy(online, async () => {
      await api("lending", `/v1/titles/${item.id}/online-only`, { auth: "staff", method: "PUT", body: { online_only: online.checked } });
      announce(online.checked ? t("onlineOnlySet") : t("onlineOnlyCleared"));
    }).catch((error: unknown) => {
      online.checked = !online.checked;
      reportProblem(error);
    });
  });
  const opened = h("input", { type: "checkbox", id: `open-${item.id}`, checked: !!item.open_access }) as HTMLInputElement;
  opened.addEventListener("change", () => {
    void busy(opened, async () => {
      await api("lending", `/v1/titles/${item.id}/open`, { auth: "staff", method: "PUT", body: { open: opened.checked } });
      announce(opened.checked ? t("openSet") : t("openCleared"));
    }).catch((error: unknown) => {
      opened.checked = !opened.checked; // e.g. title-online-only: a lent rare document is never opened
      reportProblem(error);
    });
  });
  const details = (summary: string, body: () => HTMLElement): HTMLElement => {
    const element = h("details", {}, h("summary", {}, summary)) as HTMLDetailsElement;
    element.addEventListener("toggle", () => {
      if (element.open && element.children.length === 1) element.append(body());
    });
    return element;
  };
  return h(
    "li",
    { class: "card", "data-title": item.id },
    h("h3", { lang: item.language || undefined }, item.title),
    h("p", { class: "meta" }, [item.authors.join(", "), item.library_ids.map((id) => context.names.get(id) ?? id).join(", ")].filter(Boolean).join(" · ")),
    ...(item.local_document
      ? // a scanned document's access is its description's (the reader serves it by that): no tick here to disagree
        [h("p", { class: "meta", id: `access-${item.id}` }, t("localDocumentAccessNote"), " ",
          h("a", { href: `/staff/${context.libraryId}/documents/${encodeURIComponent(item.publication_id ?? "")}` }, t("localDocumentAccessLink")))]
      : [
          h("div", { class: "check" }, online, h("label", { for: `online-${item.id}` }, t("onlineOnlyToggle"))),
          h("div", { class: "check" }, opened, h("label", { for: `open-${item.id}` }, t("openToggle"))),
        ]),
    details(t("editTitle"), () => editForm(item)),
    details(t("addLicence"), () => licenceForm(item, context)),
  );
}

export const staffTitlesPage: Render = async (main, [libraryParam]) => {
  const context = await staffContext(libraryParam);
  if (!context) return;
  staffHeader(main, context, "/titles", "staffTabTitles");
  const query = currentQuery().get("q") ?? "";
  const input = h("input", { type: "search", name: "q", value: query }) as HTMLInputElement;
  const form = h("form", { class: "search", role: "search" }, field(t("searchLabel"), input), h("button", { type: "submit" }, t("search")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go(`/staff/${context.libraryId}/titles?q=${encodeURIComponent(input.value.trim())}`);
  });
  const found = await api<SearchResult>("lending", "/v1/titles", { query: { q: query, size: 30 } });
  main.append(form, h("p", { class: "meta" }, t("results", { count: found.total })), h("ul", { class: "cards" }, ...found.items.map((item) => titleItem(item, context))));
};
