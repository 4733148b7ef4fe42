// One title, with the action that matches the reader's state: on loan → Read; ready hold → Borrow now (one
// tap); waiting → her place in the queue; free copy → Borrow; no copy → Place a hold; no licence → nothing.

import { api, type Hold, session, type Title } from "../api";
import { actionButton, announce, busy, field, h, reportProblem } from "../dom";
import { formatDate, languageName, t } from "../i18n";
import { go, type Render } from "../router";
import { readFreelyAction } from "../documents/viewer";
import { borrowNow, cover, myLoansAndHolds, timeLeft } from "./common";

export const titlePage: Render = async (main, [titleId]) => {
  const patron = session("patron");
  const item = await api<Title>("lending", `/v1/titles/${encodeURIComponent(titleId ?? "")}`, { query: { library: patron?.library_id ?? undefined } });
  const actions = h("div", { class: "title-actions", id: "title-actions" });
  main.append(
    h(
      "div",
      { class: "title-head" },
      cover(item, "large"),
      h(
        "div",
        {},
        h("h1", { id: "page-title", tabindex: -1, lang: item.language || undefined }, item.title),
        item.subtitle ? h("p", { lang: item.language || undefined }, item.subtitle) : null,
        item.authors.length ? h("p", { class: "meta" }, t("by", { authors: item.authors.join(", ") })) : null,
        h("p", { class: "meta" }, [languageName(item.language), item.format ? t(item.format === "pdf" ? "format_pdf" : "format_epub") : "", item.online_only ? t("onlineOnly") : t("ebook")].filter(Boolean).join(" · ")),
        actions,
      ),
    ),
    item.description ? h("p", { class: "description", lang: item.language || undefined }, item.description) : "",
  );
  if (item.open_access && !item.online_only && item.local_document) {
    actions.append(readFreelyAction(item)); // anyone reads it: no card, no loan
    return;
  }
  if (item.open_access && !item.online_only) {
    // an open book (public domain, open learning material): anyone reads it in the reader, no card, no loan
    actions.append(
      h("p", { class: "availability", id: "title-status" }, h("span", { class: "badge", "data-availability": "available" }, t("openTitle")), " ", t("openTitleHelp")),
      h("a", { href: `/read/open/${encodeURIComponent(item.id)}`, class: "button primary", id: "title-read" }, t("read")),
    );
    return;
  }
  if (!patron) {
    // a visitor: what the network has, and signing in only when there is something to borrow or wait for
    if (item.lendable === false || !item.availability || item.availability.state === "none") actions.append(h("p", { class: "availability", id: "title-status" }, t("noLicence")));
    else actions.append(h("a", { href: `/signin?next=/title/${item.id}`, class: "button" }, t("signInToBorrow")));
    return;
  }
  const { loans, holds } = await myLoansAndHolds();
  const loan = loans.find((candidate) => candidate.title_id === item.id);
  const hold = holds.find((candidate) => candidate.title_id === item.id);
  const status = (text: string): HTMLElement => h("p", { class: "availability", id: "title-status" }, text);
  if (loan) {
    actions.append(status(t("onLoanUntil", { due: formatDate(loan.due_at), left: timeLeft(loan.due_at) })), h("a", { href: `/read/${loan.id}`, class: "button primary", id: "title-read" }, t("read")));
    return;
  }
  if (hold?.state === "ready") {
    actions.append(
      status(t("holdReady", { until: formatDate(hold.ready_until) })),
      actionButton(t("borrowNow"), async () => void (await borrowNow(item.id)), { class: "primary", id: "title-borrow-now" }),
    );
    return;
  }
  if (hold) {
    actions.append(status(t("onHold", { position: hold.position })), h("a", { href: "/holds", class: "button secondary" }, t("seeHolds")));
    return;
  }
  const availability = item.availability;
  if (item.lendable === false || !availability || availability.state === "none") {
    actions.append(status(t("notLicensed")));
    return;
  }
  if (availability.copies !== null && !availability.available) {
    const wait = availability.wait_days ? ` · ${t("estimatedWait", { days: availability.wait_days })}` : "";
    actions.append(status(t("noCopy", { holds: availability.holds }) + wait));
    const auto = h("input", { type: "checkbox", id: "auto-checkout" }) as HTMLInputElement;
    const form = h("form", { class: "inline-form" }, h("div", { class: "check" }, auto, h("label", { for: "auto-checkout" }, t("autoCheckout"))), h("button", { type: "submit", class: "primary" }, t("placeHold")));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void busy(form, async () => {
        const placed = await api<Hold>("lending", "/v1/holds", { auth: "patron", body: { title_id: item.id, auto_checkout: auto.checked } });
        announce(t("holdPlaced", { position: placed.position }));
        go("/holds");
      }).catch(reportProblem);
    });
    actions.append(form);
    return;
  }
  actions.append(status(availability.copies === null ? t("unlimited") : t("availableCopies", { available: availability.available ?? 0, copies: availability.copies })));
  const period = h("select", { name: "period" }, ...[7, 14, 21].map((days) => h("option", { value: `P${days}D` }, t("days", { n: days })))) as HTMLSelectElement;
  const form = h("form", { class: "inline-form" }, field(t("loanPeriod"), period), h("button", { type: "submit", class: "primary", id: "title-borrow" }, t("borrow")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(form, async () => void (await borrowNow(item.id, period.value))).catch(reportProblem);
  });
  actions.append(form);
};
