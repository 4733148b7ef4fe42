// Librarians' card page: the library's readers, with renew, block and unblock.

import { api, type Patron } from "../api";
import { actionButton, announce, h } from "../dom";
import { formatDate, t } from "../i18n";
import type { Render } from "../router";
import { staffContext, staffHeader } from "./common";

export const staffPatronsPage: Render = async (main, [libraryParam]) => {
  const context = await staffContext(libraryParam);
  if (!context) return;
  staffHeader(main, context, "/patrons", "staffTabPatrons");
  const base = `/v1/libraries/${context.libraryId}`;
  const [active, blocked] = await Promise.all(
    ["active", "blocked"].map((status) => api<Patron[]>("lending", `${base}/card-applications`, { auth: "staff", query: { status } })),
  );
  const rerender = async (): Promise<void> => {
    main.replaceChildren();
    await staffPatronsPage(main, [context.libraryId]);
  };
  const row = (patron: Patron): HTMLElement =>
    h(
      "tr",
      { "data-patron": patron.id },
      h("td", {}, patron.display_name),
      h("td", {}, patron.card_number ?? "—"),
      h("td", {}, patron.card_expires_at ? formatDate(patron.card_expires_at) : "—"),
      h("td", {}, patron.status === "blocked" ? t("cardBlocked") : t("cardActive")),
      h(
        "td",
        { class: "actions" },
        actionButton(t("renewCard"), async () => {
          await api("lending", `${base}/patrons/${patron.id}/renew-card`, { auth: "staff", method: "POST" });
          announce(t("cardRenewed", { name: patron.display_name }));
          await rerender();
        }, { class: "secondary" }),
        actionButton(patron.status === "blocked" ? t("unblockCard") : t("blockCard"), async () => {
          await api("lending", `${base}/patrons/${patron.id}/${patron.status === "blocked" ? "unblock" : "block"}`, { auth: "staff", method: "POST" });
          await rerender();
        }, { class: patron.status === "blocked" ? "secondary" : "danger" }),
      ),
    );
  const patrons = [...(active ?? []), ...(blocked ?? [])];
  main.append(
    patrons.length
      ? h("div", { class: "table-scroll" }, h("table", { id: "patrons-table" }, h("thead", {}, h("tr", {}, ...["fullName", "cardNumber", "cardExpires", "status", "actionsColumn"].map((key) => h("th", { scope: "col" }, t(key as "status"))))), h("tbody", {}, ...patrons.map(row))))
      : h("p", {}, t("noPatrons")),
  );
};
