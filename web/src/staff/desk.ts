// The librarian's desk: sign in, card applications, the library's loans, the circulation report.

import { api, type Loan, type Patron, raw, type ReportRow, signInStaff } from "../api";
import { staffContext, staffHeader } from "./common";
import { actionButton, announce, busy, field, h, reportProblem } from "../dom";
import { formatDate, t } from "../i18n";
import { go, type Render } from "../router";


export const staffSignInPage: Render = async (main) => {
  const username = h("input", { name: "username", autocomplete: "username", required: true }) as HTMLInputElement;
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true }) as HTMLInputElement;
  const form = h("form", {}, field(t("username"), username), field(t("password"), password), h("button", { type: "submit", class: "primary" }, t("signIn")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(form, async () => {
      await signInStaff(username.value.trim(), password.value);
      go("/staff");
    }, t("working")).catch(reportProblem);
  });
  main.append(h("h1", { id: "page-title", tabindex: -1 }, t("staffSignInTitle")), form);
};

function month(offset = 0): string {
  const now = new Date();
  const date = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 1));
  return date.toISOString().slice(0, 7);
}

export const staffPage: Render = async (main, [libraryParam]) => {
  const context = await staffContext(libraryParam);
  if (!context) return;
  staffHeader(main, context, "", "staffTitle");
  const { libraryId, names } = context;
  const applications = h("section", { id: "applications", "aria-labelledby": "applications-title" }, h("h2", { id: "applications-title" }, t("applicationsTitle")));
  const loans = h("section", { id: "library-loans", "aria-labelledby": "loans-title" }, h("h2", { id: "loans-title" }, t("libraryLoansTitle")));
  const report = h("section", { id: "report", "aria-labelledby": "report-title" }, h("h2", { id: "report-title" }, t("reportTitle")));
  main.append(applications, loans, report);
  await Promise.all([renderApplications(applications, libraryId), renderLoans(loans, libraryId), renderReport(report, libraryId, names)]);
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
        const decide = (approve: boolean): HTMLElement =>
          actionButton(approve ? t("approve") : t("reject"), async () => {
            const path = `/v1/libraries/${libraryId}/card-applications/${patron.id}/${approve ? "approve" : "reject"}`;
            const decided = await api<Patron>("lending", path, { auth: "staff", body: approve ? undefined : { reason: "" }, method: "POST" });
            const said = approve ? t("approved", { name: decided.display_name, card: decided.card_number ?? "" }) : t("rejected", { name: decided.display_name });
            item.replaceChildren(h("p", { role: "status" }, said));
            announce(said);
          }, { class: approve ? "primary" : "danger" });
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
  const loans = await api<Array<Loan & { title: string; borrower_name: string; borrower_card: string | null }>>("lending", `/v1/libraries/${libraryId}/loans`, { auth: "staff" });
  if (!loans.length) {
    section.append(h("p", {}, t("noLibraryLoans")));
    return;
  }
  const rows = loans.map((loan) => h("tr", {}, h("td", {}, loan.title), h("td", {}, loan.borrower_name, loan.borrower_card ? h("span", { class: "meta" }, ` (${loan.borrower_card})`) : null), h("td", {}, formatDate(loan.starts_at)), h("td", {}, formatDate(loan.due_at))));
  section.append(
    h("div", { class: "table-scroll" }, h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("title")), h("th", { scope: "col" }, t("borrower")), h("th", { scope: "col" }, t("started")), h("th", { scope: "col" }, t("dueColumn")))), h("tbody", {}, ...rows))),
  );
}

async function renderReport(section: HTMLElement, libraryId: string, names: Map<string, string>): Promise<void> {
  const from = h("input", { type: "month", name: "from", value: month(-2) }) as HTMLInputElement;
  const to = h("input", { type: "month", name: "to", value: month(0) }) as HTMLInputElement;
  const csv = h("button", { type: "button", class: "secondary" }, t("exportCsv")) as HTMLButtonElement;
  const form = h("form", { class: "wide" }, h("div", { class: "row" }, field(t("from"), from), field(t("to"), to)), h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("show")), csv));
  const output = h("div", { "aria-live": "polite" });
  const query = (format: string) => ({ library: libraryId, from: from.value, to: to.value, by: "library", format, lang: format === "csv" ? "vi" : undefined });
  const show = async (): Promise<void> => {
    try {
      const rows = await api<ReportRow[]>("lending", "/v1/reports/circulation", { auth: "staff", query: query("json") });
      const most = Math.max(1, ...rows.map((row) => row.loans));
      output.replaceChildren(
        h("div", { class: "bars", "aria-hidden": "true" }, ...rows.map((row) => h("div", { class: "bar", style: `width: ${Math.max(8, (100 * row.loans) / most)}%` }, `${row.month} ${names.get(row.library_id) ?? row.library_id}: ${row.loans}`))),
        h(
          "table",
          { id: "report-table" },
          h("thead", {}, h("tr", {}, ...["month", "library", "loans", "holds", "borrowers", "turnaways"].map((key) => h("th", { scope: "col" }, t(key as "month"))))),
          h("tbody", {}, ...rows.map((row) => h("tr", {}, h("td", {}, row.month), h("td", {}, names.get(row.library_id) ?? row.library_id), h("td", {}, String(row.loans)), h("td", {}, String(row.holds)), h("td", {}, String(row.unique_borrowers)), h("td", {}, String(row.turnaways))))),
        ),
      );
    } catch (error) {
      reportProblem(error);
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(form, show);
  });
  csv.addEventListener("click", () => {
    void busy(csv, async () => {
      // The report needs the staff token, so it is fetched and handed to the browser as a file.
      const response = await raw("lending", "/v1/reports/circulation", { auth: "staff", query: query("csv") });
      const link = h("a", { href: URL.createObjectURL(await response.blob()), download: `sachso-${libraryId}-${from.value}-${to.value}.csv` });
      link.click();
    }).catch(reportProblem);
  });
  section.append(form, output);
  await show();
}
