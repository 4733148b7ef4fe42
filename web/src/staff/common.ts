// What the librarian's pages share: the signed-in check, the libraries she may manage, and the tabs.

import { api, type Library, session } from "../api";
import { field, h } from "../dom";
import { t, type MessageKey } from "../i18n";
import { currentPath, go } from "../router";

export interface StaffContext {
  libraries: Library[]; // those she may manage (lending decides: GET /v1/staff/me/libraries)
  names: Map<string, string>; // every library of the network, by id
  libraryId: string;
  roles: string[];
}

/** Signs in first when needed; otherwise the libraries she manages and the one chosen. */
export async function staffContext(libraryParam: string | undefined): Promise<StaffContext | null> {
  const staff = session("staff");
  if (!staff) {
    go(`/staff/signin`, { replace: true });
    return null;
  }
  const [all, libraries] = await Promise.all([api<Library[]>("lending", "/v1/libraries"), api<Library[]>("lending", "/v1/staff/me/libraries", { auth: "staff" })]);
  const libraryId = libraries.find((lib) => lib.id === libraryParam)?.id ?? (libraries.find((lib) => lib.id === staff.library_id) ?? libraries[0])?.id ?? "";
  return { libraries, names: new Map(all.map((lib) => [lib.id, lib.name])), libraryId, roles: staff.roles };
}

const TABS: Array<[string, MessageKey]> = [
  ["", "staffTabDesk"],
  ["/titles", "staffTabTitles"],
  ["/patrons", "staffTabPatrons"],
  ["/accounts", "staffTabAccounts"],
  ["/documents", "staffTabDocuments"],
  ["/progress", "staffTabProgress"],
];

/** The page's heading, the library picker (names, never ids) and the tabs between the librarian's pages. */
export function staffHeader(main: HTMLElement, context: StaffContext, tab: string, title: MessageKey): void {
  const picker = h("select", { name: "library", id: "staff-library" }, ...context.libraries.map((lib) => h("option", { value: lib.id, selected: lib.id === context.libraryId }, lib.name))) as HTMLSelectElement;
  picker.addEventListener("change", () => go(`/staff/${picker.value}${tab}`));
  const path = currentPath();
  main.append(
    h("h1", { id: "page-title", tabindex: -1 }, t(title)),
    h("div", { class: "filters" }, field(t("library"), picker)),
    h("nav", { class: "tabs", "aria-label": t("staffTabs") }, h("ul", {}, ...TABS.map(([suffix, label]) => {
      const href = `/staff/${context.libraryId}${suffix}`;
      const current = path === href || (suffix === "" && path === "/staff");
      return h("li", {}, h("a", { href, "aria-current": current ? "page" : undefined }, t(label)));
    }))),
  );
}
