// The inbox: books waiting for the reader first (Borrow now, one tap), then messages, new ones arriving live
// over Server-Sent Events while the page is open.

import { api, baseUrl, type Hold, type InboxMessage, session, title } from "../api";
import { actionButton, announce, h, reportProblem } from "../dom";
import { formatDate, t } from "../i18n";
import type { Render } from "../router";
import { borrowNow, requirePatron } from "./common";

let live: AbortController | null = null;

/** Stops the inbox's live stream when the reader leaves the page. */
export function stopLiveInbox(): void {
  live?.abort();
  live = null;
}

/** How many messages she has not read (the badge in the header). */
export async function unreadCount(): Promise<number> {
  const messages = await api<InboxMessage[]>("notify", "/v1/inbox", { auth: "patron" });
  return messages.filter((message) => !message.read_at).length;
}

function messageCard(message: InboxMessage, refresh: () => void): HTMLElement {
  const mark = message.read_at
    ? null
    : actionButton(t("markRead"), async () => {
        await api("notify", `/v1/inbox/${message.id}/read`, { auth: "patron", method: "POST" });
        refresh();
      }, { class: "quiet" });
  return h(
    "li",
    { class: message.read_at ? "card message" : "card message unread", "data-kind": message.kind, "data-id": message.id },
    h("h3", {}, message.title),
    h("p", { class: "meta" }, formatDate(message.created_at), message.read_at ? "" : ` · ${t("unread")}`),
    h("p", {}, message.body),
    mark,
  );
}

async function readyHolds(): Promise<HTMLElement | null> {
  const holds = (await api<Hold[]>("lending", "/v1/holds", { auth: "patron" })).filter((hold) => hold.state === "ready");
  if (!holds.length) return null;
  const items = await Promise.all(
    holds.map(async (hold) => {
      const book = await title(hold.title_id);
      return h(
        "li",
        { class: "card ready-hold", "data-hold": hold.id },
        h("h3", { lang: book.language || undefined }, book.title),
        h("p", {}, t("holdReady", { until: formatDate(hold.ready_until) })),
        actionButton(t("borrowNow"), async () => void (await borrowNow(hold.title_id)), { class: "primary", "data-borrow": hold.title_id }),
      );
    }),
  );
  return h("section", { id: "ready-holds", "aria-labelledby": "ready-title" }, h("h2", { id: "ready-title" }, t("readyForYou")), h("ul", { class: "cards" }, ...items));
}

/** New messages arrive over Server-Sent Events (read with fetch, which can send the bearer token). */
async function followInbox(list: HTMLElement, empty: HTMLElement, refresh: () => void): Promise<void> {
  stopLiveInbox();
  const controller = new AbortController();
  live = controller;
  const token = session("patron")?.access_token;
  const response = await fetch(`${baseUrl("notify")}/v1/inbox/stream`, { headers: { Accept: "text/event-stream", Authorization: `Bearer ${token}` }, signal: controller.signal });
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
      list.prepend(messageCard(message, refresh));
      announce(message.title);
      if (message.kind.includes("hold")) refresh();
    }
  }
}

export const inboxPage: Render = async (main) => {
  main.append(h("h1", { id: "page-title", tabindex: -1 }, t("inboxTitle")));
  if (!requirePatron(main)) return;
  const ready = h("div", { id: "ready-slot" });
  const showReady = (): void => {
    readyHolds()
      .then((section) => ready.replaceChildren(...(section ? [section] : [])))
      .catch(reportProblem);
  };
  const messages = await api<InboxMessage[]>("notify", "/v1/inbox", { auth: "patron" });
  const refresh = (): void => {
    showReady();
    document.dispatchEvent(new CustomEvent("sachso:inbox-changed"));
  };
  const empty = h("p", {}, t("noMessages"));
  const list = h("ul", { class: "cards", id: "inbox-list", "aria-live": "polite" }, ...messages.map((message) => messageCard(message, () => {
    main.replaceChildren();
    void inboxPage(main, []).then(refresh);
  })));
  main.append(ready, h("h2", {}, t("messages")));
  if (!messages.length) main.append(empty);
  main.append(list);
  showReady();
  void followInbox(list, empty, refresh).catch((error: unknown) => {
    if (!(error instanceof DOMException && error.name === "AbortError")) reportProblem(error);
  });
};
