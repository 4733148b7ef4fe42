// Administrators' accounts page: staff accounts in the libraries they administer, and (province) publishers.

import { api } from "../api";
import { announce, busy, field, h, reportProblem } from "../dom";
import { t } from "../i18n";
import type { Render } from "../router";
import { staffContext, staffHeader } from "./common";

export const staffAccountsPage: Render = async (main, [libraryParam]) => {
  const context = await staffContext(libraryParam);
  if (!context) return;
  staffHeader(main, context, "/accounts", "staffTabAccounts");
  const admin = context.roles.some((role) => role === "library-admin" || role === "province-admin");
  if (!admin) {
    main.append(h("p", {}, t("adminsOnly")));
    return;
  }
  const username = h("input", { name: "username", pattern: "[a-z0-9._-]{3,64}", required: true, autocomplete: "off" }) as HTMLInputElement;
  const password = h("input", { name: "password", type: "password", minlength: "12", required: true, autocomplete: "new-password" }) as HTMLInputElement;
  const roles = ["librarian", "library-admin", ...(context.roles.includes("province-admin") ? ["province-admin"] : [])];
  const role = h("select", { name: "role" }, ...roles.map((value) => h("option", { value }, t(`role_${value}` as "role_librarian")))) as HTMLSelectElement;
  const library = h("select", { name: "library" }, ...context.libraries.map((lib) => h("option", { value: lib.id, selected: lib.id === context.libraryId }, lib.name))) as HTMLSelectElement;
  const staffForm = h("form", { id: "staff-form" }, field(t("username"), username, t("usernameHelp")), field(t("password"), password, t("passwordHelp")), field(t("role"), role), field(t("library"), library), h("button", { type: "submit", class: "primary" }, t("createStaff")));
  staffForm.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(staffForm, async () => {
      await api("lending", "/v1/staff", { auth: "staff", body: { username: username.value.trim(), password: password.value, role: role.value, library_id: library.value } });
      announce(t("staffCreated", { name: username.value.trim() }));
      (staffForm as HTMLFormElement).reset();
    }, t("working")).catch(reportProblem);
  });
  main.append(h("section", { "aria-labelledby": "staff-title" }, h("h2", { id: "staff-title" }, t("createStaff")), staffForm));
  if (!context.roles.includes("province-admin")) return;
  const id = h("input", { name: "id", pattern: "[a-z0-9][a-z0-9-]{1,62}", required: true }) as HTMLInputElement;
  const name = h("input", { name: "name", required: true }) as HTMLInputElement;
  const secret = h("input", { name: "secret", type: "password", minlength: "24", required: true, autocomplete: "new-password" }) as HTMLInputElement;
  const publisherForm = h("form", { id: "publisher-form" }, field(t("publisherId"), id), field(t("publisherName"), name), field(t("publisherSecret"), secret, t("publisherSecretHelp")), h("button", { type: "submit", class: "primary" }, t("createPublisher")));
  publisherForm.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(publisherForm, async () => {
      await api("lending", "/v1/publishers", { auth: "staff", body: { id: id.value.trim(), name: name.value.normalize("NFC"), secret: secret.value } });
      announce(t("publisherCreated", { name: name.value }));
      (publisherForm as HTMLFormElement).reset();
    }, t("working")).catch(reportProblem);
  });
  main.append(h("section", { "aria-labelledby": "publisher-title" }, h("h2", { id: "publisher-title" }, t("createPublisher")), publisherForm));
};
