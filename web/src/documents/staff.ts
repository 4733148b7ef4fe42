// The librarian's local documents: upload scans (tus, with progress, pause and resume — also after a dropped
// connection or a reload), the library's documents with their OCR progress, and one document's page: pages with
// their recognition state (a failed page has a Retry), the correction of a page's text, the Dublin Core
// description, open or online-only, and publishing.

import { Upload } from "tus-js-client";
import { api, baseUrl, raw, session } from "../api";
import { actionButton, announce, busy, field, h, reportProblem } from "../dom";
import { formatDate } from "../i18n";
import { go, type Render } from "../router";
import { staffContext, staffHeader } from "../staff/common";
import { dt } from "./messages";
import "./documents.css";

interface DocumentSummary {
  id: string;
  title: string;
  access: "open" | "online-only";
  published: boolean;
  page_count: number;
  pages_recognised: number;
  pages_corrected: number;
  pages_failed: number;
  description: Record<string, string | string[]>;
}
interface PageState {
  page: number;
  ocr: "queued" | "done" | "failed";
  ocr_error: string | null;
  corrected: boolean;
}
interface PageText {
  text: string;
  corrected_by: string | null;
  corrected_at: string | null;
}

const CHUNK_BYTES = 1024 * 1024;
const resumeKey = (file: File): string => `sachso.scan-upload.${file.name}.${file.size}.${file.lastModified}`;

function megabytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toLocaleString(undefined, { maximumFractionDigits: 1 })} MB`;
}

function staffHeaders(): Record<string, string> {
  return { Authorization: `Bearer ${session("staff")?.access_token ?? ""}` };
}

/** A tus upload's address as this app reaches it (the reader answers its own address in Location). */
async function createUpload(file: File): Promise<string> {
  const encoded = btoa(unescape(encodeURIComponent(file.name)));
  const response = await raw("reader", "/v1/local-documents/uploads", {
    method: "POST",
    auth: "staff",
    headers: { "Tus-Resumable": "1.0.0", "Upload-Length": String(file.size), "Upload-Metadata": `filename ${encoded}` },
  });
  return baseUrl("reader") + new URL(response.headers.get("Location") ?? "", window.location.href).pathname;
}

function ocrBadge(state: PageState["ocr"]): HTMLElement {
  const label = { queued: dt("ocrQueued"), done: dt("ocrDone"), failed: dt("ocrFailed") }[state];
  return h("span", { class: "ocr-state", "data-state": state }, label);
}

function summaryLine(doc: DocumentSummary): string {
  return dt("pagesSummary", { pages: doc.page_count, recognised: doc.pages_recognised, failed: doc.pages_failed, corrected: doc.pages_corrected });
}

function uploadForm(libraryId: string): HTMLElement {
  const file = h("input", { type: "file", name: "file", accept: ".pdf,.zip,application/pdf,application/zip", required: true, id: "scan-file" }) as HTMLInputElement;
  const title = h("input", { type: "text", name: "title", id: "scan-title", maxlength: 500 }) as HTMLInputElement;
  const bar = h("progress", { class: "upload-progress", id: "upload-progress", max: 100, value: 0, hidden: true }) as HTMLProgressElement;
  const state = h("p", { class: "meta", id: "upload-state", "aria-live": "polite" });
  const pause = h("button", { type: "button", id: "upload-pause", hidden: true }, dt("pause")) as HTMLButtonElement;
  const submit = h("button", { type: "submit", class: "primary", id: "upload-start" }, dt("upload")) as HTMLButtonElement;
  const form = h("form", { class: "card", id: "upload-form" }, h("h2", {}, dt("uploadTitle")), h("p", { class: "meta" }, dt("uploadHelp")), field(dt("file"), file), field(dt("documentTitle"), title), bar, state, h("div", { class: "actions" }, submit, pause));
  let upload: Upload | null = null;
  let paused = false;

  const finish = async (chosen: File, url: string): Promise<void> => {
    localStorage.removeItem(resumeKey(chosen));
    const uploadId = url.split("/").pop() ?? "";
    const made = await api<DocumentSummary>("reader", "/v1/local-documents", { auth: "staff", body: { upload_id: uploadId, title: title.value.trim() } });
    announce(dt("uploadDone"));
    go(`/staff/${libraryId}/documents/${made.id}`);
  };
  const start = async (): Promise<void> => {
    const chosen = file.files?.[0];
    if (!chosen) return;
    let url = localStorage.getItem(resumeKey(chosen));
    if (!url) {
      url = await createUpload(chosen);
      localStorage.setItem(resumeKey(chosen), url);
    }
    bar.hidden = false;
    pause.hidden = false;
    submit.disabled = true;
    const target = url;
    await new Promise<void>((resolve, reject) => {
      upload = new Upload(chosen, {
        uploadUrl: target,
        chunkSize: CHUNK_BYTES,
        retryDelays: [0, 1000, 3000, 5000],
        headers: staffHeaders(),
        onProgress: (sent, total) => {
          bar.value = Math.floor((100 * sent) / total);
          bar.dataset.bytes = String(sent);
          state.textContent = dt("uploadProgress", { done: megabytes(sent), total: megabytes(total) });
        },
        onSuccess: () => resolve(),
        onError: (error) => reject(error),
      });
      upload.start();
    });
    pause.hidden = true;
    await finish(chosen, target);
  };
  pause.addEventListener("click", () => {
    if (!upload) return;
    paused = !paused;
    if (paused) {
      void upload.abort();
      pause.textContent = dt("resume");
      state.textContent = dt("uploadPaused", { done: megabytes(Number(bar.dataset.bytes ?? 0)), total: megabytes(file.files?.[0]?.size ?? 0) });
    } else {
      pause.textContent = dt("pause");
      state.textContent = dt("uploadResumed", { done: megabytes(Number(bar.dataset.bytes ?? 0)) });
      upload.start(); // asks the server for its offset (HEAD) and carries on from there
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void start().catch((error: unknown) => {
      submit.disabled = false;
      reportProblem(error);
    });
  });
  return form;
}

export const staffDocumentsPage: Render = async (main, [libraryParam]) => {
  const context = await staffContext(libraryParam);
  if (!context) return;
  staffHeader(main, context, "/documents", "staffTabDocuments");
  main.append(uploadForm(context.libraryId));
  const documents = await api<DocumentSummary[]>("reader", "/v1/local-documents", { auth: "staff" });
  main.append(
    h("h2", {}, dt("documentsTitle")),
    documents.length
      ? h("ul", { class: "doc-list", id: "doc-list" }, ...documents.map((doc) => h("li", { class: "card" },
          h("h3", {}, h("a", { href: `/staff/${context.libraryId}/documents/${doc.id}` }, doc.title || doc.id)),
          h("p", { class: "meta" }, summaryLine(doc)),
          h("p", { class: "meta" }, [doc.published ? dt("published") : dt("notPublished"), doc.access === "open" ? dt("accessOpen") : dt("accessOnlineOnly")].join(" · ")),
        )))
      : h("p", { class: "meta" }, dt("noDocuments")),
  );
};

function list(value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join(", ") : (value ?? "");
}

function split(value: string): string[] {
  return value.split(",").map((part) => part.trim()).filter(Boolean);
}

function describeForm(doc: DocumentSummary, onSaved: () => void): HTMLElement {
  const dc = doc.description;
  const input = (name: string, value: string, attributes: Record<string, string | number | boolean> = {}): HTMLInputElement => h("input", { type: "text", name, value, ...attributes }) as HTMLInputElement;
  const titleInput = input("title", String(dc.title ?? doc.title), { required: true, maxlength: 500 });
  const creators = input("creators", list(dc.creators));
  const subjects = input("subjects", list(dc.subjects));
  const summary = h("textarea", { name: "description", rows: 3 }, String(dc.description ?? "")) as HTMLTextAreaElement;
  const date = input("date", String(dc.date ?? ""));
  const places = input("coverage_places", list(dc.coverage_places));
  const period = input("coverage_period", String(dc.coverage_period ?? ""));
  const rights = input("rights", String(dc.rights ?? ""));
  const access = h("select", { name: "access", id: "doc-access" }, h("option", { value: "open", selected: doc.access === "open" }, dt("accessOpen")), h("option", { value: "online-only", selected: doc.access !== "open" }, dt("accessOnlineOnly"))) as HTMLSelectElement;
  const form = h("form", { class: "card", id: "describe-form" }, h("h2", {}, dt("describeTitle")),
    h("div", { class: "dc-form" }, field(dt("documentTitle"), titleInput), field(dt("creators"), creators), field(dt("subjects"), subjects), field(dt("date"), date), field(dt("places"), places), field(dt("period"), period), field(dt("rights"), rights), field(dt("access"), access)),
    field(dt("description"), summary),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, dt("saveDescription"))),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(form, async () => {
      await api("reader", `/v1/local-documents/${doc.id}/description`, {
        method: "PUT", auth: "staff",
        body: { title: titleInput.value, creators: split(creators.value), subjects: split(subjects.value), description: summary.value, date: date.value, coverage_places: split(places.value), coverage_period: period.value, rights: rights.value, access: access.value },
      });
      announce(dt("descriptionSaved"));
      onSaved();
    }).catch(reportProblem);
  });
  return form;
}

export const staffDocumentPage: Render = async (main, [libraryParam, documentId]) => {
  const context = await staffContext(libraryParam);
  if (!context) return;
  staffHeader(main, context, "/documents", "staffTabDocuments");
  const id = encodeURIComponent(documentId ?? "");
  const doc = await api<DocumentSummary>("reader", `/v1/local-documents/${id}`, { auth: "staff" });
  const reload = (): void => go(`/staff/${context.libraryId}/documents/${id}`, { replace: true });
  const summary = h("p", { class: "meta", id: "doc-summary" }, summaryLine(doc));
  const pagesList = h("ol", { class: "doc-pages", id: "doc-pages" });
  const editor = h("section", { class: "card", id: "correction" });
  main.append(
    h("h2", { id: "doc-title" }, doc.title || doc.id),
    summary,
    h("p", { class: "meta" }, [doc.published ? dt("published") : dt("notPublished"), doc.access === "open" ? dt("accessOpen") : dt("accessOnlineOnly")].join(" · ")),
    doc.published ? "" : actionButton(dt("publish"), async () => {
      await api("reader", `/v1/local-documents/${id}/publish`, { method: "POST", auth: "staff" });
      announce(dt("publishedNow"));
      reload();
    }, { id: "doc-publish" }),
    h("h2", {}, dt("pages")),
    pagesList,
    editor,
    describeForm(doc, reload),
  );

  let imageUrl = "";
  const edit = async (number: number): Promise<void> => {
    for (const item of pagesList.querySelectorAll("li")) item.setAttribute("aria-current", String(item.dataset.page === String(number)));
    const [text, image] = await Promise.all([
      api<PageText>("reader", `/v1/local-documents/${id}/pages/${number}/text`, { auth: "staff" }),
      raw("reader", `/v1/local-documents/${id}/pages/${number}/image`, { auth: "staff", query: { width: 1000 } }).then((answer) => answer.blob()),
    ]);
    if (imageUrl) URL.revokeObjectURL(imageUrl);
    imageUrl = URL.createObjectURL(image);
    const area = h("textarea", { id: "page-text", name: "text", lang: "vi" }, text.text) as HTMLTextAreaElement;
    const last = h("p", { class: "meta", id: "last-correction" }, text.corrected_by ? dt("lastCorrection", { by: text.corrected_by, at: formatDate(text.corrected_at ?? "") }) : "");
    const form = h("form", { class: "correction-form" }, field(dt("pageText"), area), last, h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", id: "save-correction" }, dt("saveCorrection"))));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void busy(form, async () => {
        const saved = await api<{ corrected_by: string; corrected_at: string }>("reader", `/v1/local-documents/${id}/pages/${number}/text`, { method: "PUT", auth: "staff", body: { text: area.value } });
        last.textContent = dt("lastCorrection", { by: saved.corrected_by, at: formatDate(saved.corrected_at) });
        announce(dt("correctionSaved", { page: number }));
      }).catch(reportProblem);
    });
    editor.replaceChildren(h("h2", {}, dt("correctTitle", { page: number })), h("div", { class: "correction" }, h("img", { src: imageUrl, alt: dt("pageAlt", { page: number, title: doc.title }), id: "correction-image" }), form));
  };

  let timer = 0;
  const showPages = async (): Promise<void> => {
    const pages = await api<PageState[]>("reader", `/v1/local-documents/${id}/pages`, { auth: "staff" });
    pagesList.replaceChildren(...pages.map((page) => {
      const open = h("button", { type: "button", class: "link-button" }, dt("correctTitle", { page: page.page }));
      open.addEventListener("click", () => void edit(page.page).catch(reportProblem));
      return h("li", { "data-page": String(page.page), "data-ocr": page.ocr },
        h("strong", {}, dt("hitOnPage", { page: page.page })), ocrBadge(page.ocr), page.corrected ? h("span", { class: "meta" }, dt("corrected")) : null,
        page.ocr === "failed" ? h("small", { class: "meta" }, page.ocr_error ?? "") : null,
        page.ocr === "failed" ? actionButton(dt("retry"), async () => {
          await api("reader", `/v1/local-documents/${id}/pages/${page.page}/ocr-retry`, { method: "POST", auth: "staff" });
          announce(dt("retried", { page: page.page }));
          await showPages();
        }, { class: "secondary" }) : open,
      );
    }));
    const fresh = await api<DocumentSummary>("reader", `/v1/local-documents/${id}`, { auth: "staff" });
    summary.textContent = summaryLine(fresh);
    window.clearTimeout(timer);
    if (pages.some((page) => page.ocr === "queued") && pagesList.isConnected) timer = window.setTimeout(() => void showPages().catch(() => undefined), 3000);
  };
  await showPages();
  if (doc.page_count) await edit(1);
};
