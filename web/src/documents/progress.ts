// Digitisation progress (/staff/{library}/progress): pages and items digitised, OCR'd, corrected and published per
// month for the library (and, for admins, every library below it), against the target the province set; a chart
// (SVG), a table, the CSV with Vietnamese headers, and — for province admins — setting a library's target. Beside
// them, the readings of open titles (no card, no loan) per library and for all of them, by month.

import { api, raw } from "../api";
import { announce, busy, field, h, reportProblem } from "../dom";
import { type Render } from "../router";
import { staffContext, staffHeader } from "../staff/common";
import { dt } from "./messages";
import "./documents.css";

interface ProgressRow {
  library_id: string;
  library: string | null;
  month: string | null;
  items_digitised: number;
  pages_digitised: number;
  items_recognised: number;
  pages_recognised: number;
  pages_corrected: number;
  items_published: number;
  pages_published: number;
  target_pages: number;
  pages_to_date: number;
  percent_of_target: number | null;
}
interface ProgressReport {
  months: string[];
  rows: ProgressRow[];
}
/** Readings of open titles (no card, no loan), per month, looking-after library and title. */
interface OpenReadCount {
  month: string;
  library_id: string;
  title_id: string;
  reads: number;
}

/** Open reads per library ("*": all of them) and month ("": the whole period). */
function openReadTotals(counts: OpenReadCount[]): Map<string, number> {
  const totals = new Map<string, number>();
  const add = (key: string, reads: number): void => void totals.set(key, (totals.get(key) ?? 0) + reads);
  for (const count of counts) {
    for (const library of [count.library_id, "*"]) {
      add(`${library}|${count.month}`, count.reads);
      add(`${library}|`, count.reads);
    }
  }
  return totals;
}

const SERIES: Array<[keyof ProgressRow, "pagesDigitised" | "pagesRecognised" | "pagesCorrected" | "pagesPublished", string]> = [
  ["pages_digitised", "pagesDigitised", "#2f6f4f"],
  ["pages_recognised", "pagesRecognised", "#3f7fbf"],
  ["pages_corrected", "pagesCorrected", "#c98a00"],
  ["pages_published", "pagesPublished", "#8a4fbf"],
];
const SVG = "http://www.w3.org/2000/svg";

function svg(tag: string, attributes: Record<string, string | number>, text?: string): SVGElement {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

/** Grouped bars per month (all the report's libraries together), one colour per stage. */
function chart(report: ProgressReport): Element {
  const totals = report.months.map((month) => {
    const rows = report.rows.filter((row) => row.month === month);
    return SERIES.map(([key]) => rows.reduce((sum, row) => sum + Number(row[key]), 0));
  });
  const peak = Math.max(1, ...totals.flat());
  const width = 640;
  const height = 260;
  const left = 44;
  const bottom = 28;
  const plot = height - bottom - 10;
  const group = (width - left - 10) / Math.max(1, report.months.length);
  const bar = Math.max(2, (group - 8) / SERIES.length);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "progress-chart", id: "progress-chart", role: "img", "aria-label": dt("chartLabel") });
  root.append(svg("title", {}, dt("chartTitle")));
  for (const step of [0, 0.5, 1]) {
    const y = 10 + plot * (1 - step);
    root.append(svg("line", { x1: left, x2: width - 10, y1: y, y2: y, stroke: "#ddd" }), svg("text", { x: left - 6, y: y + 4, "text-anchor": "end" }, String(Math.round(peak * step))));
  }
  report.months.forEach((month, index) => {
    const x0 = left + index * group + 4;
    totals[index]?.forEach((value, series) => {
      const barHeight = (plot * value) / peak;
      const rect = svg("rect", { x: x0 + series * bar, y: 10 + plot - barHeight, width: bar - 1, height: barHeight, fill: SERIES[series]?.[2] ?? "#333", "data-value": value });
      rect.append(svg("title", {}, `${month} · ${dt(SERIES[series]?.[1] ?? "pagesDigitised")}: ${value}`));
      root.append(rect);
    });
    root.append(svg("text", { x: x0 + (group - 8) / 2, y: height - 10, "text-anchor": "middle" }, month.slice(2)));
  });
  return root;
}

function table(report: ProgressReport, openReads: Map<string, number>): HTMLElement {
  const summaries = report.rows.filter((row) => row.month === null);
  const head = [dt("library"), dt("itemsDigitised"), dt("pagesDigitised"), dt("pagesRecognised"), dt("pagesCorrected"), dt("pagesPublished"), dt("openReads"), dt("target"), dt("toDate"), dt("ofTarget")];
  const caption = `${dt("wholePeriod")}: ${report.months[0] ?? ""} – ${report.months.at(-1) ?? ""}`;
  // A table wider than a phone scrolls sideways: the region takes keyboard focus so it can be scrolled without a mouse.
  return h("div", { class: "report-table-wrap", tabindex: "0", role: "region", "aria-label": caption }, h("table", { id: "progress-table" },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, ...head.map((label) => h("th", { scope: "col" }, label)))),
    h("tbody", {}, ...summaries.map((row) => h("tr", { "data-library": row.library_id },
      h("th", { scope: "row" }, row.library_id === "*" ? dt("total") : (row.library ?? row.library_id)),
      ...[row.items_digitised, row.pages_digitised, row.pages_recognised, row.pages_corrected, row.pages_published].map((value) => h("td", {}, String(value))),
      h("td", { "data-open-reads": row.library_id }, String(openReads.get(`${row.library_id}|`) ?? 0)),
      ...[row.target_pages || "—", row.pages_to_date].map((value) => h("td", {}, String(value))),
      h("td", {}, row.percent_of_target === null ? "—" : h("meter", { class: "target-meter", min: 0, max: 100, value: Math.min(100, row.percent_of_target), title: `${row.percent_of_target}%` }), row.percent_of_target === null ? "" : ` ${row.percent_of_target}%`),
    ))),
  ));
}

/** Open reads by month, one row per library and one for all of them (the province, for its admins). */
function openReadsTable(report: ProgressReport, openReads: Map<string, number>): HTMLElement {
  const libraries = report.rows.filter((row) => row.month === null);
  const caption = dt("openReadsTitle");
  const months = report.months;
  const table = h("table", { id: "open-reads-table" },
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, dt("library")), ...months.map((month) => h("th", { scope: "col" }, month)), h("th", { scope: "col" }, dt("wholePeriod")))),
    h("tbody", {}, ...libraries.map((row) => h("tr", { "data-library": row.library_id },
      h("th", { scope: "row" }, row.library_id === "*" ? dt("total") : (row.library ?? row.library_id)),
      ...months.map((month) => h("td", {}, String(openReads.get(`${row.library_id}|${month}`) ?? 0))),
      h("td", {}, String(openReads.get(`${row.library_id}|`) ?? 0)),
    ))),
  );
  return h("section", { class: "open-reads", "aria-labelledby": "open-reads-heading" },
    h("h2", { id: "open-reads-heading" }, caption),
    h("p", { class: "meta" }, openReads.size ? dt("openReadsHelp") : dt("openReadsNone")),
    h("div", { class: "report-table-wrap", tabindex: "0", role: "region", "aria-label": caption }, table),
  );
}

export const staffProgressPage: Render = async (main, [libraryParam]) => {
  const context = await staffContext(libraryParam);
  if (!context) return;
  staffHeader(main, context, "/progress", "staffTabProgress");
  const now = new Date();
  const thisMonth = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}`;
  const from = h("input", { type: "month", name: "from", value: `${now.getFullYear()}-01`, required: true }) as HTMLInputElement;
  const to = h("input", { type: "month", name: "to", value: thisMonth, required: true }) as HTMLInputElement;
  const form = h("form", { class: "filters" }, field(dt("from"), from), field(dt("to"), to), h("button", { type: "submit" }, dt("show")));
  const output = h("div", { id: "progress-output" });
  const csv = h("button", { type: "button", id: "progress-csv" }, dt("downloadCsv"));
  main.append(form, csv, output);
  const query = (): Record<string, string> => ({ library: context.libraryId, from: from.value, to: to.value });
  const show = async (): Promise<void> => {
    const [report, counts] = await Promise.all([
      api<ProgressReport>("lending", "/v1/reports/digitisation", { auth: "staff", query: query() }),
      api<OpenReadCount[]>("lending", "/v1/reports/open-reads", { auth: "staff", query: query() }),
    ]);
    const openReads = openReadTotals(counts);
    const legend = h("ul", { class: "chart-legend" }, ...SERIES.map(([, label, colour]) => h("li", {}, h("span", { style: `background:${colour}` }), dt(label))));
    output.replaceChildren(h("h2", {}, dt("chartTitle")), chart(report), legend, table(report, openReads), openReadsTable(report, openReads));
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(form, show).catch(reportProblem);
  });
  csv.addEventListener("click", () => {
    void busy(csv, async () => {
      const answer = await raw("lending", "/v1/reports/digitisation", { auth: "staff", query: { ...query(), format: "csv", lang: "vi" } });
      const link = h("a", { href: URL.createObjectURL(await answer.blob()), download: `so-hoa-${context.libraryId}-${from.value}-${to.value}.csv` });
      link.click();
    }).catch(reportProblem);
  });
  if (context.roles.includes("province-admin")) {
    const library = h("select", { name: "library" }, ...context.libraries.map((lib) => h("option", { value: lib.id }, lib.name))) as HTMLSelectElement;
    const year = h("input", { type: "number", name: "year", min: 2000, max: 2100, value: now.getFullYear(), required: true }) as HTMLInputElement;
    const pages = h("input", { type: "number", name: "pages", min: 0, required: true, value: 1000 }) as HTMLInputElement;
    const items = h("input", { type: "number", name: "items", min: 0, value: 0 }) as HTMLInputElement;
    const targetForm = h("form", { class: "card", id: "target-form" }, h("h2", {}, dt("setTarget")), h("div", { class: "filters" }, field(dt("library"), library), field(dt("year"), year), field(dt("targetPages"), pages), field(dt("targetItems"), items)), h("button", { type: "submit", class: "primary" }, dt("setTarget")));
    targetForm.addEventListener("submit", (event) => {
      event.preventDefault();
      void busy(targetForm, async () => {
        await api("lending", `/v1/libraries/${encodeURIComponent(library.value)}/digitisation-target`, { method: "PUT", auth: "staff", body: { year: Number(year.value), pages: Number(pages.value), items: Number(items.value) } });
        announce(dt("targetSaved", { library: library.selectedOptions[0]?.textContent ?? library.value }));
        await show();
      }).catch(reportProblem);
    });
    main.append(targetForm);
  }
  await show();
};
