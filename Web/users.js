// Users (admins only): add, change role or password, delete.
import { api } from "/api.js";
import { el, dateTime, openDialog, deleteButton, submitDialog, field, reloader } from "/dom.js";

const ROLES = ["admin", "operator", "viewer"];

export async function usersPage(root) {
  root.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  const list = await api("/users");
  const status = el("p", { class: "status", role: "status" });
  const reload = reloader(usersPage, root);
  const add = el("button", {}, "Add user");
  add.addEventListener("click", () => userDialog(null, reload));
  const rows = list.users.map((user) => {
    const edit = el("button", { class: "secondary" }, "Edit");
    edit.addEventListener("click", () => userDialog(user, reload));
    const remove = deleteButton({ title: "Delete user", question: `Delete ${user.username}? Their sessions end at once.`,
      path: `/users/${user.id}`, name: user.username, reload, status });
    return el("tr", {}, el("th", { scope: "row" }, user.username), el("td", {}, user.role), el("td", {}, dateTime(user.created_at)),
      el("td", { class: "row-actions" }, edit, remove));
  });
  root.replaceChildren(el("h1", {}, "Users"), el("div", { class: "toolbar" }, add), status,
    el("div", { class: "table" }, el("table", {}, el("thead", {}, el("tr", {},
      ["User", "Role", "Created", "Actions"].map((label) => el("th", { scope: "col" }, label)))), el("tbody", {}, rows))));
}

function userDialog(user, reload) {
  const username = el("input", { name: "username", required: true, autocomplete: "off", value: user?.username ?? "", disabled: !!user });
  const password = el("input", { name: "password", type: "password", autocomplete: "new-password", required: !user, minlength: 8, placeholder: user ? "unchanged" : "" });
  const role = el("select", { name: "role" }, ROLES.map((value) => el("option", { value, selected: value === (user?.role ?? "operator") }, value)));
  const error = el("p", { class: "error", role: "alert" });
  const save = el("button", { type: "submit" }, user ? "Save" : "Add user");
  const form = el("form", { class: "wizard" }, field("User name", username), field("Password", password, "At least 8 characters"),
    field("Role", role, "viewer: reads; operator: backs up and restores; admin: also users, repositories, vCenters"), error, el("p", { class: "actions" }, save));
  const dialog = openDialog(user ? `Edit ${user.username}` : "Add a user", form);
  submitDialog(form, { button: save, error, dialog,
    send: () => api(user ? `/users/${user.id}` : "/users", { method: user ? "PUT" : "POST",
      body: user ? { role: role.value, ...(password.value ? { password: password.value } : {}) }
        : { username: username.value.trim(), password: password.value, role: role.value } }),
    done: () => reload(user ? `Saved ${user.username}.` : `Added ${username.value.trim()}.`) });
}
