// The librarian's desk: sign in, card applications, the library's loans, the circulation report.

import { api, type Library, type Loan, type Patron, raw, type ReportRow, session, signInStaff, title } from "./api";
import { announce, field, h } from "./dom";
import { formatDate, t } from "./i18n";
import { go, problem, type Render } from "./patron";

export const staffSignInPage: Render = async (main) => {
  const username = h("input", { name: "username", autocomplete: "username", required: true }) as HTMLInputElement;
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true }) as HTMLInputElement;
  const form = h("form", {}, field(t("username"), username), field(t("password"), password), h("button", { type: "submit" }, t("signIn")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await signInStaff(username.value.trim(), password.value);
      go("#/staff");
    } catch (error) {
      problem(error);
    }
  });
  main.append(h("h1", { id: "page-title", tabindex: -1 }, t("staffSignInTitle")), form);
};

function month(offset = 0): string {
  const now = new Date();
  const date = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 1));
  return date.toISOString().slice(0, 7);
}

export const staffPage: Render = async (main, [libraryParam]) => {
  const staff = session("staff");
  if (!staff) {
    go("#/staff/signin");
    return;
  }
  const libraries = await api<Library[]>("lending", "/v1/libraries");
  const libraryId = libraryParam || staff.library_id || libraries[0]?.id || "";
  const picker = h("select", { name: "library" }, ...libraries.map((lib) => h("option", { value: lib.id, selected: lib.id === libraryId }, lib.name))) as HTMLSelectElement;
  picker.addEventListener("change", () => go(`#/staff/${picker.value}`));
  main.append(h("h1", { id: "page-title", tabindex: -1 }, t("staffTitle")), field(t("library"), picker));

  const applications = h("section", { id: "applications", "aria-labelledby": "applications-title" }, h("h2", { id: "applications-title" }, t("applicationsTitle")));
  const loans = h("section", { id: "library-loans", "aria-labelledby": "loans-title" }, h("h2", { id: "loans-title" }, t("libraryLoansTitle")));
  const report = h("section", { id: "report", "aria-labelledby": "report-title" }, h("h2", { id: "report-title" }, t("reportTitle")));
  main.append(applications, loans, report);
  await Promise.all([renderApplications(applications, libraryId), renderLoans(loans, libraryId), renderReport(report, libraryId)]);
};

async function renderApplications(section: HTMLElement, libraryId: string): Promise<void> {
  const pending = await api<Patron[]>("lending", `/v1/libraries/${libraryId}/card-applications`, { auth: "staff" });
  if (!pending.length) {
    section.append(h("p", {}, t("noApplications")));
    return;
  }
  section.append(
    h(
      "ul",
      { class: "cards" },
      ...pending.map((patron) => {
        const decide = (approve: boolean): HTMLElement => {
          const button = h("button", { type: "button", class: approve ? "" : "danger" }, approve ? t("approve") : t("reject"));
          button.addEventListener("click", async () => {
            try {
              const path = `/v1/libraries/${libraryId}/card-applications/${patron.id}/${approve ? "approve" : "reject"}`;
              const decided = await api<Patron>("lending", path, { auth: "staff", body: approve ? undefined : { reason: "" }, method: "POST" });
              item.replaceChildren(h("p", { role: "status" }, approve ? t("approved", { name: decided.display_name, card: decided.card_number ?? "" }) : decided.status));
              if (approve) announce(t("approved", { name: decided.display_name, card: decided.card_number ?? "" }));
            } catch (error) {
              problem(error);
            }
          });
          return button;
        };
        const item = h(
          "li",
          { class: "card", "data-application": patron.id },
          h("h3", {}, patron.display_name),
          h("p", { class: "meta" }, patron.email),
          h("div", { class: "actions" }, decide(true), decide(false)),
        );
        return item;
      }),
    ),
  );
}

async function renderLoans(section: HTMLElement, libraryId: string): Promise<void> {
  const loans = await api<Loan[]>("lending", `/v1/libraries/${libraryId}/loans`, { auth: "staff" });
  if (!loans.length) {
    section.append(h("p", {}, t("noLibraryLoans")));
    return;
  }
  const rows = await Promise.all(
    loans.map(async (loan) => h("tr", {}, h("td", {}, (await title(loan.title_id)).title), h("td", {}, formatDate(loan.starts_at)), h("td", {}, formatDate(loan.due_at)))),
  );
  section.append(
    h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("title")), h("th", { scope: "col" }, t("started")), h("th", { scope: "col" }, t("due", { due: "" }).replace(/[:\s]+$/, "")))), h("tbody", {}, ...rows)),
  );
}

async function renderReport(section: HTMLElement, libraryId: string): Promise<void> {
  const from = h("input", { type: "month", name: "from", value: month(-2) }) as HTMLInputElement;
  const to = h("input", { type: "month", name: "to", value: month(0) }) as HTMLInputElement;
  const csv = h("button", { type: "button", class: "secondary" }, t("exportCsv"));
  const form = h("form", {}, field(t("from"), from), field(t("to"), to), h("div", { class: "actions" }, h("button", { type: "submit" }, t("show")), csv));
  const output = h("div", { "aria-live": "polite" });
  const query = (format: string) => ({ library: libraryId, from: from.value, to: to.value, by: "library", format });
  const show = async (): Promise<void> => {
    try {
      const rows = await api<ReportRow[]>("lending", "/v1/reports/circulation", { auth: "staff", query: query("json") });
      const most = Math.max(1, ...rows.map((row) => row.loans));
      output.replaceChildren(
        h("div", { class: "bars", "aria-hidden": "true" }, ...rows.map((row) => h("div", { class: "bar", style: `width: ${Math.max(8, (100 * row.loans) / most)}%` }, `${row.month} ${row.library_id}: ${row.loans}`))),
        h(
          "table",
          { id: "report-table" },
          h("thead", {}, h("tr", {}, ...["month", "library", "loans", "holds", "borrowers", "turnaways"].map((key) => h("th", { scope: "col" }, t(key as "month"))))),
          h("tbody", {}, ...rows.map((row) => h("tr", {}, h("td", {}, row.month), h("td", {}, row.library_id), h("td", {}, String(row.loans)), h("td", {}, String(row.holds)), h("td", {}, String(row.unique_borrowers)), h("td", {}, String(row.turnaways))))),
        ),
      );
    } catch (error) {
      problem(error);
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void show();
  });
  csv.addEventListener("click", async () => {
    try {
      // The report needs the staff token, so it is fetched and handed to the browser as a file.
      const response = await raw("lending", "/v1/reports/circulation", { auth: "staff", query: query("csv") });
      const link = h("a", { href: URL.createObjectURL(await response.blob()), download: `sachso-${libraryId}-${from.value}-${to.value}.csv` });
      link.click();
    } catch (error) {
      problem(error);
    }
  });
  section.append(form, output);
  await show();
}
