// Sign in, apply for a card, and the reader's account: card, message language, how and when she is notified
// (the page every email links to: /settings/notifications), sign out.

import { api, type Library, type Patron, session, signInPatron, signOut } from "../api";
import { announce, busy, field, h, reportProblem } from "../dom";
import { channelName, formatDate, kindName, t } from "../i18n";
import { currentPath, currentQuery, go, type Render } from "../router";
import { requirePatron } from "./common";
import { pushSection, storageSection } from "../offline";

export const signInPage: Render = async (main) => {
  const card = h("input", { name: "card_number", autocomplete: "username", required: true }) as HTMLInputElement;
  const pin = h("input", { name: "pin", type: "password", inputmode: "numeric", autocomplete: "current-password", required: true }) as HTMLInputElement;
  const form = h("form", { "aria-labelledby": "page-title" }, field(t("cardNumber"), card), field(t("pin"), pin), h("button", { type: "submit", class: "primary" }, t("signIn")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(form, async () => {
      const signed = await signInPatron(card.value.trim(), pin.value);
      announce(t("signedInAs", { name: signed.name }));
      const next = currentQuery().get("next");
      go(next && next.startsWith("/") && !next.startsWith("//") ? next : "/shelf");
    }, t("working")).catch(reportProblem);
  });
  main.append(h("h1", { id: "page-title", tabindex: -1 }, t("signInTitle")), form, h("p", {}, h("a", { href: "/apply" }, t("noCard"))));
};

export const applyPage: Render = async (main) => {
  const libraries = await api<Library[]>("lending", "/v1/libraries");
  const library = h("select", { name: "library_id", required: true }, h("option", { value: "" }, t("chooseLibrary")), ...libraries.map((lib) => h("option", { value: lib.id }, lib.name))) as HTMLSelectElement;
  const name = h("input", { name: "display_name", autocomplete: "name", required: true }) as HTMLInputElement;
  const email = h("input", { name: "email", type: "email", autocomplete: "email", required: true }) as HTMLInputElement;
  const pin = h("input", { name: "pin", type: "password", inputmode: "numeric", pattern: "[0-9]{4,8}", autocomplete: "new-password", required: true }) as HTMLInputElement;
  const language = h("select", { name: "preferred_language" }, h("option", { value: "vi" }, "Tiếng Việt"), h("option", { value: "en", lang: "en" }, "English")) as HTMLSelectElement;
  const form = h("form", {}, field(t("library"), library), field(t("fullName"), name), field(t("email"), email), field(t("pin"), pin, t("pinHelp")), field(t("preferredLanguage"), language), h("button", { type: "submit", class: "primary" }, t("apply")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(form, async () => {
      const application = await api<{ application_id: string; status: string }>("lending", "/v1/card-applications", {
        body: { library_id: library.value, display_name: name.value.normalize("NFC"), email: email.value, pin: pin.value, preferred_language: language.value },
      });
      form.replaceWith(verifyForm(application.application_id, email.value));
    }, t("working")).catch(reportProblem);
  });
  main.append(h("h1", { id: "page-title", tabindex: -1 }, t("applyTitle")), form);
};

function verifyForm(applicationId: string, email: string): HTMLElement {
  const code = h("input", { name: "code", inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}", required: true }) as HTMLInputElement;
  const form = h("form", { "data-application": applicationId }, h("h2", {}, t("verifyTitle")), h("p", {}, t("verifyHelp", { email })), field(t("code"), code), h("button", { type: "submit", class: "primary" }, t("verify")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(form, async () => {
      const result = await api<{ status: string }>("lending", `/v1/card-applications/${applicationId}/verify`, { body: { code: code.value.trim() } });
      const message = result.status === "active" ? t("applicationApproved") : t("applicationPending");
      form.replaceWith(h("p", { class: "done", role: "status" }, message));
      announce(message);
    }, t("working")).catch(reportProblem);
  });
  return form;
}

interface KindPreference {
  channels: string[];
  allowed: string[];
  urgent: boolean;
  fixed: boolean;
}
interface Preferences {
  time_zone: string;
  quiet_hours: { start: string; end: string } | null;
  language: "vi" | "en" | null;
  kinds: Record<string, KindPreference>;
}

function notificationsForm(preferences: Preferences): HTMLElement {
  const language = h("select", { id: "message-language" }, h("option", { value: "" }, t("languageOfCard")), h("option", { value: "vi", selected: preferences.language === "vi" }, "Tiếng Việt"), h("option", { value: "en", lang: "en", selected: preferences.language === "en" }, "English")) as HTMLSelectElement;
  const quiet = h("input", { type: "checkbox", id: "quiet-on", checked: !!preferences.quiet_hours }) as HTMLInputElement;
  const start = h("input", { type: "time", id: "quiet-start", value: preferences.quiet_hours?.start.slice(0, 5) ?? "21:00" }) as HTMLInputElement;
  const end = h("input", { type: "time", id: "quiet-end", value: preferences.quiet_hours?.end.slice(0, 5) ?? "07:00" }) as HTMLInputElement;
  const boxes: Array<[string, string, HTMLInputElement]> = [];
  const rows = Object.entries(preferences.kinds).map(([kind, rules]) =>
    h(
      "fieldset",
      { class: "kind" },
      h("legend", {}, kindName(kind)),
      ...["inbox", "email", "push"].filter((channel) => rules.allowed.includes(channel) || channel === "inbox").map((channel) => {
        const id = `channel-${kind}-${channel}`;
        const box = h("input", { type: "checkbox", id, checked: rules.channels.includes(channel), disabled: rules.fixed || !rules.allowed.includes(channel) }) as HTMLInputElement;
        boxes.push([kind, channel, box]);
        return h("div", { class: "check" }, box, h("label", { for: id }, channelName(channel)));
      }),
    ),
  );
  const form = h(
    "form",
    { id: "notifications-form", class: "wide" },
    field(t("preferredLanguage"), language),
    h("fieldset", {}, h("legend", {}, t("quietHours")), h("div", { class: "check" }, quiet, h("label", { for: "quiet-on" }, t("quietHoursOn"))), h("div", { class: "row" }, field(t("from"), start), field(t("to"), end)), h("small", {}, t("quietHoursHelp"))),
    ...rows,
    h("button", { type: "submit", class: "primary" }, t("save")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(form, async () => {
      const channels: Record<string, string[]> = {};
      for (const [kind, channel, box] of boxes) if (box.checked && !box.disabled) (channels[kind] ??= []).push(channel);
      await api("notify", "/v1/notification-preferences", {
        auth: "patron",
        method: "PUT",
        body: { time_zone: preferences.time_zone, language: language.value || null, quiet_hours: quiet.checked ? { start: start.value, end: end.value } : null, channels },
      });
      announce(t("saved"));
    }, t("working")).catch(reportProblem);
  });
  return form;
}

function pinForm(): HTMLElement {
  const current = h("input", { type: "password", inputmode: "numeric", autocomplete: "current-password", required: true, id: "pin-current" }) as HTMLInputElement;
  const next = h("input", { type: "password", inputmode: "numeric", autocomplete: "new-password", pattern: "[0-9]{4,8}", required: true, id: "pin-new" }) as HTMLInputElement;
  const form = h("form", { id: "pin-form" }, field(t("currentPin"), current), field(t("newPin"), next, t("pinHelp")), h("button", { type: "submit", class: "primary" }, t("changePin")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(form, async () => {
      await api("lending", "/v1/me/pin", { auth: "patron", method: "PUT", body: { current_pin: current.value, new_pin: next.value } });
      (form as HTMLFormElement).reset();
      announce(t("pinChanged"));
    }, t("working")).catch(reportProblem);
  });
  return form;
}

export const accountPage: Render = async (main) => {
  main.append(h("h1", { id: "page-title", tabindex: -1 }, t("accountTitle")));
  if (!requirePatron(main)) return;
  const [me, preferences] = await Promise.all([api<Patron>("lending", "/v1/me", { auth: "patron" }), api<Preferences>("notify", "/v1/notification-preferences", { auth: "patron" })]);
  const signOutButton = h("button", { type: "button", class: "secondary", id: "sign-out" }, t("navSignOut"));
  signOutButton.addEventListener("click", () => {
    signOut("patron");
    go("/");
  });
  const everywhere = h("button", { type: "button", class: "danger", id: "sign-out-everywhere" }, t("signOutEverywhere")) as HTMLButtonElement;
  everywhere.addEventListener("click", () => {
    if (!window.confirm(t("confirmSignOutEverywhere"))) return;
    void busy(everywhere, async () => {
      await api("lending", "/v1/me/sign-out-everywhere", { auth: "patron", method: "POST" });
      signOut("patron");
      announce(t("signedOutEverywhere"));
      go("/signin");
    }).catch(reportProblem);
  });
  const notifications = h("section", { id: "notifications", "aria-labelledby": "notifications-title" }, h("h2", { id: "notifications-title", tabindex: -1 }, t("notificationsTitle")), notificationsForm(preferences));
  main.append(
    h(
      "section",
      { id: "card", "aria-labelledby": "card-title" },
      h("h2", { id: "card-title" }, t("cardTitle")),
      h("dl", { class: "facts" }, h("dt", {}, t("fullName")), h("dd", {}, me.display_name), h("dt", {}, t("cardNumber")), h("dd", { id: "card-number" }, me.card_number ?? "—"), h("dt", {}, t("cardExpires")), h("dd", {}, me.card_expires_at ? formatDate(me.card_expires_at) : "—"), h("dt", {}, t("email")), h("dd", {}, me.email)),
    ),
    notifications,
    pushSection(),
    storageSection(),
    h("section", { id: "pin", "aria-labelledby": "pin-title" }, h("h2", { id: "pin-title" }, t("changePin")), pinForm()),
    h("section", { "aria-labelledby": "session-title" }, h("h2", { id: "session-title" }, t("sessionTitle")), h("p", {}, t("signedInAs", { name: session("patron")?.name ?? me.display_name })), h("div", { class: "actions" }, signOutButton, everywhere), h("p", { class: "meta" }, t("signOutEverywhereHelp"))),
  );
  if (currentPath() === "/settings/notifications") notifications.scrollIntoView();
};
