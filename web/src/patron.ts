// The reader's pages: sign in, apply for a card, catalogue, a title, loans, holds, inbox.

import { api, ApiError, baseUrl, type Hold, type InboxMessage, type Library, type Loan, type Patron, session, signInPatron, title, type SearchResult, type Title } from "./api";
import { announce, field, h } from "./dom";
import { formatDate, t } from "./i18n";

export type Render = (main: HTMLElement, params: string[]) => Promise<void>;

export function problem(error: unknown): void {
  const detail = error instanceof ApiError || error instanceof Error ? error.message : String(error);
  announce(t("errorGeneric", { detail }), "error");
}

export function go(hash: string): void {
  window.location.hash = hash;
}

function requirePatron(main: HTMLElement): boolean {
  if (session("patron")) return true;
  main.append(h("p", {}, h("a", { href: "#/signin" }, t("signInToBorrow"))));
  return false;
}

export const signInPage: Render = async (main) => {
  const card = h("input", { name: "card_number", autocomplete: "username", required: true }) as HTMLInputElement;
  const pin = h("input", { name: "pin", type: "password", inputmode: "numeric", autocomplete: "current-password", required: true }) as HTMLInputElement;
  const form = h("form", { "aria-labelledby": "page-title" }, field(t("cardNumber"), card), field(t("pin"), pin), h("button", { type: "submit" }, t("signIn")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const signed = await signInPatron(card.value.trim(), pin.value);
      announce(t("signedInAs", { name: signed.name }));
      go("#/");
    } catch (error) {
      problem(error);
    }
  });
  main.append(h("h1", { id: "page-title", tabindex: -1 }, t("signInTitle")), form, h("p", {}, h("a", { href: "#/apply" }, t("noCard"))));
};

export const applyPage: Render = async (main) => {
  const libraries = await api<Library[]>("lending", "/v1/libraries");
  const library = h("select", { name: "library_id" }, ...libraries.map((lib) => h("option", { value: lib.id }, lib.name))) as HTMLSelectElement;
  const name = h("input", { name: "display_name", autocomplete: "name", required: true }) as HTMLInputElement;
  const email = h("input", { name: "email", type: "email", autocomplete: "email", required: true }) as HTMLInputElement;
  const pin = h("input", { name: "pin", type: "password", inputmode: "numeric", pattern: "[0-9]{4,8}", required: true }) as HTMLInputElement;
  const language = h("select", { name: "preferred_language" }, h("option", { value: "vi" }, "Tiếng Việt"), h("option", { value: "en" }, "English")) as HTMLSelectElement;
  const form = h("form", {}, field(t("library"), library), field(t("fullName"), name), field(t("email"), email), field(t("pin"), pin, t("pinHelp")), field(t("preferredLanguage"), language), h("button", { type: "submit" }, t("apply")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const application = await api<{ application_id: string; status: string }>("lending", "/v1/card-applications", {
        body: { library_id: library.value, display_name: name.value.normalize("NFC"), email: email.value, pin: pin.value, preferred_language: language.value },
      });
      form.replaceWith(verifyForm(application.application_id, email.value));
    } catch (error) {
      problem(error);
    }
  });
  main.append(h("h1", { id: "page-title", tabindex: -1 }, t("applyTitle")), form);
};

function verifyForm(applicationId: string, email: string): HTMLElement {
  const code = h("input", { name: "code", inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}", required: true }) as HTMLInputElement;
  const form = h("form", { "data-application": applicationId }, h("h2", {}, t("verifyTitle")), h("p", {}, t("verifyHelp", { email })), field(t("code"), code), h("button", { type: "submit" }, t("verify")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const result = await api<{ status: string }>("lending", `/v1/card-applications/${applicationId}/verify`, { body: { code: code.value.trim() } });
      const message = result.status === "active" ? t("applicationApproved") : t("applicationPending");
      form.replaceWith(h("p", { class: "done", role: "status" }, message));
      announce(message);
    } catch (error) {
      problem(error);
    }
  });
  return form;
}

function titleCard(item: Title): HTMLElement {
  return h(
    "li",
    { class: "card" },
    h("h2", {}, h("a", { href: `#/title/${item.id}` }, item.title)),
    item.authors.length ? h("p", { class: "meta" }, t("by", { authors: item.authors.join(", ") })) : null,
    item.subjects.length ? h("p", { class: "meta" }, item.subjects.join(" · ")) : null,
  );
}

export const cataloguePage: Render = async (main) => {
  const query = new URLSearchParams(window.location.hash.split("?")[1] ?? "").get("q") ?? "";
  const input = h("input", { name: "q", type: "search", value: query }) as HTMLInputElement;
  const form = h("form", { class: "search", role: "search" }, field(t("searchLabel"), input), h("button", { type: "submit" }, t("search")));
  const results = h("section", { "aria-live": "polite", id: "results" });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go(`#/?q=${encodeURIComponent(input.value.trim())}`);
  });
  main.append(h("h1", { id: "page-title", tabindex: -1 }, t("catalogueTitle")), form, results);
  // The whole provincial catalogue: what a reader may borrow through sharing rules shows on the title page.
  const found = await api<SearchResult>("lending", "/v1/titles", { query: { q: query, size: 50 } });
  results.append(
    h("p", { class: "meta" }, found.total ? t("results", { count: found.total }) : t("noResults")),
    h("ul", { class: "cards" }, ...found.items.map(titleCard)),
  );
};

export const titlePage: Render = async (main, [titleId]) => {
  const patron = session("patron");
  const item = await api<Title>("lending", `/v1/titles/${encodeURIComponent(titleId ?? "")}`, {
    query: { library: patron?.library_id ?? undefined },
  });
  main.append(
    h("h1", { id: "page-title", tabindex: -1, lang: item.language || undefined }, item.title),
    item.subtitle ? h("p", {}, item.subtitle) : "",
    item.authors.length ? h("p", { class: "meta" }, t("by", { authors: item.authors.join(", ") })) : "",
    item.description ? h("p", {}, item.description) : "",
  );
  if (!patron) {
    main.append(h("p", {}, h("a", { href: "#/signin" }, t("signInToBorrow"))));
    return;
  }
  const availability = item.availability;
  const status = h("p", { class: "availability" });
  main.append(status);
  if (!availability || availability.copies === 0) {
    status.textContent = t("notLicensed");
    return;
  }
  status.textContent =
    availability.copies === null ? t("unlimited") : availability.available ? t("availableCopies", { available: availability.available, copies: availability.copies }) : t("noCopy", { holds: availability.holds });
  if (availability.available === 0) {
    const auto = h("input", { type: "checkbox", id: "auto-checkout" }) as HTMLInputElement;
    const place = h("button", { type: "submit" }, t("placeHold"));
    const form = h("form", {}, h("div", {}, auto, " ", h("label", { for: "auto-checkout" }, t("autoCheckout"))), place);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const hold = await api<Hold>("lending", "/v1/holds", { auth: "patron", body: { title_id: item.id, auto_checkout: auto.checked } });
        announce(t("holdPlaced", { position: hold.position }));
        go("#/holds");
      } catch (error) {
        problem(error);
      }
    });
    main.append(form);
    return;
  }
  const period = h("select", { name: "period" }, ...[7, 14, 21].map((days) => h("option", { value: `P${days}D` }, t("days", { n: days })))) as HTMLSelectElement;
  const form = h("form", {}, field(t("loanPeriod"), period), h("button", { type: "submit" }, t("borrow")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const loan = await api<Loan>("lending", "/v1/loans", { auth: "patron", body: { title_id: item.id, period: period.value } });
      announce(t("borrowed", { due: formatDate(loan.due_at) }));
      go("#/loans");
    } catch (error) {
      problem(error);
    }
  });
  main.append(form);
};

export const loansPage: Render = async (main) => {
  main.append(h("h1", { id: "page-title", tabindex: -1 }, t("loansTitle")));
  if (!requirePatron(main)) return;
  const loans = await api<Loan[]>("lending", "/v1/loans", { auth: "patron" });
  if (!loans.length) {
    main.append(h("p", {}, t("noLoans")));
    return;
  }
  const items = await Promise.all(
    loans.map(async (loan) => {
      const book = await title(loan.title_id);
      const giveBack = h("button", { class: "secondary", type: "button" }, t("returnEarly"));
      giveBack.addEventListener("click", async () => {
        if (!window.confirm(t("confirmReturn"))) return;
        try {
          await api<Loan>("lending", `/v1/loans/${loan.id}/return`, { auth: "patron", method: "POST" });
          announce(t("returned"));
          await rerender(main, loansPage);
        } catch (error) {
          problem(error);
        }
      });
      const licence = book.online_only ? null : h("button", { class: "secondary", type: "button", "data-licence": loan.id }, t("lcpDownload"));
      licence?.addEventListener("click", () => void downloadLicence(loan.id, main).catch(problem));
      return h(
        "li",
        { class: "card", "data-loan": loan.id },
        h("h2", {}, book.title),
        h("p", { class: "meta" }, t("due", { due: formatDate(loan.due_at) })),
        h("div", { class: "actions" }, h("a", { href: `#/read/${loan.id}`, class: "button" }, t("read")), giveBack, licence),
      );
    }),
  );
  main.append(h("ul", { class: "cards" }, ...items));
};

/** The LCP licence of a loan, for reading apps (Thorium, Aldiko…): asks for a reading passphrase the first time. */
async function downloadLicence(loanId: string, main: HTMLElement): Promise<void> {
  const token = session("patron")?.access_token;
  const fetchLicence = (): Promise<Response> =>
    fetch(`${baseUrl("drm")}/v1/loans/${loanId}/license`, { headers: { Authorization: `Bearer ${token}` } });
  let response = await fetchLicence();
  if (response.status === 409 && ((await response.clone().json()) as { type?: string }).type?.endsWith("/lcp-passphrase-missing")) {
    const passphrase = window.prompt(t("lcpPassphrasePrompt"));
    if (!passphrase) return;
    const hint = window.prompt(t("lcpHintPrompt"));
    if (!hint) return;
    await api("drm", "/v1/lcp/passphrase", { auth: "patron", method: "PUT", body: { passphrase, hint } });
    response = await fetchLicence();
  }
  if (!response.ok) throw new ApiError(response.status, ((await response.json()) as { detail?: string }).detail ?? response.statusText);
  const link = h("a", { href: URL.createObjectURL(await response.blob()), download: `${loanId}.lcpl` }) as HTMLAnchorElement;
  main.append(link);
  link.click();
  link.remove();
  announce(t("lcpDownloaded"));
  main.append(h("p", { class: "meta" }, h("a", { href: `${baseUrl("drm")}/v1/lcp/hint`, target: "_blank", rel: "noopener" }, t("lcpHint"))));
}

async function rerender(main: HTMLElement, page: Render): Promise<void> {
  main.replaceChildren();
  await page(main, []);
}

export const holdsPage: Render = async (main) => {
  main.append(h("h1", { id: "page-title", tabindex: -1 }, t("holdsTitle")));
  if (!requirePatron(main)) return;
  const holds = await api<Hold[]>("lending", "/v1/holds", { auth: "patron" });
  if (!holds.length) {
    main.append(h("p", {}, t("noHolds")));
    return;
  }
  const act = (label: string, path: string, method: string, body?: unknown, kind = "secondary"): HTMLElement => {
    const button = h("button", { class: kind, type: "button" }, label);
    button.addEventListener("click", async () => {
      try {
        await api("lending", path, { auth: "patron", method, body });
        await rerender(main, holdsPage);
      } catch (error) {
        problem(error);
      }
    });
    return button;
  };
  const items = await Promise.all(
    holds.map(async (hold) => {
      const book = await title(hold.title_id);
      const state = hold.suspended_until ? "suspended" : hold.state;
      const stateKey = `state_${state}` as "state_waiting";
      return h(
        "li",
        { class: "card", "data-hold": hold.id, "data-state": state },
        h("h2", {}, book.title),
        h("p", { class: "meta" }, t(stateKey) || state),
        hold.state === "ready" && hold.ready_until ? h("p", {}, t("holdReady", { until: formatDate(hold.ready_until) })) : null,
        hold.state !== "ready" ? h("p", { class: "position" }, t("position", { position: hold.position })) : null,
        hold.state !== "ready" ? h("p", {}, hold.estimated_wait_days === null ? t("waitUnknown") : t("estimatedWait", { days: Math.ceil(hold.estimated_wait_days) })) : null,
        hold.suspended_until ? h("p", {}, t("holdSuspended", { until: formatDate(hold.suspended_until) })) : null,
        h(
          "div",
          { class: "actions" },
          hold.state === "ready" ? h("a", { href: `#/title/${hold.title_id}` }, t("borrow")) : null,
          hold.state !== "ready" && !hold.suspended_until ? act(t("suspend"), `/v1/holds/${hold.id}/suspend`, "POST", { days: 7 }) : null,
          hold.suspended_until ? act(t("resume"), `/v1/holds/${hold.id}/resume`, "POST") : null,
          act(t("cancelHold"), `/v1/holds/${hold.id}`, "DELETE", undefined, "danger"),
        ),
      );
    }),
  );
  main.append(h("ul", { class: "cards" }, ...items));
};

let live: AbortController | null = null;

/** Stops the inbox's live stream when the reader leaves the page. */
export function stopLiveInbox(): void {
  live?.abort();
  live = null;
}

function messageCard(main: HTMLElement, message: InboxMessage): HTMLElement {
  const mark = message.read_at ? null : h("button", { class: "secondary", type: "button" }, t("markRead"));
  mark?.addEventListener("click", async () => {
    try {
      await api("notify", `/v1/inbox/${message.id}/read`, { auth: "patron", method: "POST" });
      await rerender(main, inboxPage);
    } catch (error) {
      problem(error);
    }
  });
  return h(
    "li",
    { class: message.read_at ? "card message" : "card message unread", "data-kind": message.kind, "data-id": message.id },
    h("h2", {}, message.title),
    h("p", { class: "meta" }, formatDate(message.created_at), message.read_at ? "" : ` · ${t("unread")}`),
    h("p", {}, message.body),
    mark,
  );
}

/** New messages arrive over Server-Sent Events (read with fetch, which can send the bearer token). */
async function followInbox(main: HTMLElement, list: HTMLElement, empty: HTMLElement): Promise<void> {
  stopLiveInbox();
  const controller = new AbortController();
  live = controller;
  const token = session("patron")?.access_token;
  const response = await fetch(`${baseUrl("notify")}/v1/inbox/stream`, {
    headers: { Accept: "text/event-stream", Authorization: `Bearer ${token}` },
    signal: controller.signal,
  });
  if (!response.ok || !response.body) return;
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n"); // SSE allows CRLF, CR or LF line ends
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split("\n").filter((line) => line.startsWith("data:")).map((line) => line.slice(5).trim()).join("\n");
      if (!data) continue;
      const message = JSON.parse(data) as InboxMessage;
      if (list.querySelector(`[data-id="${message.id}"]`)) continue;
      empty.remove();
      list.prepend(messageCard(main, message));
      announce(message.title);
    }
  }
}

export const inboxPage: Render = async (main) => {
  main.append(h("h1", { id: "page-title", tabindex: -1 }, t("inboxTitle")));
  if (!requirePatron(main)) return;
  const messages = await api<InboxMessage[]>("notify", "/v1/inbox", { auth: "patron" });
  const empty = h("p", {}, t("noMessages"));
  const list = h("ul", { class: "cards", id: "inbox-list", "aria-live": "polite" }, ...messages.map((message) => messageCard(main, message)));
  if (!messages.length) main.append(empty);
  main.append(list);
  void followInbox(main, list, empty).catch((error: unknown) => {
    if (!(error instanceof DOMException && error.name === "AbortError")) problem(error);
  });
};

export async function patronName(): Promise<string | null> {
  const current = session("patron");
  if (!current) return null;
  try {
    return (await api<Patron>("lending", "/v1/me", { auth: "patron" })).display_name;
  } catch {
    return current.name;
  }
}
