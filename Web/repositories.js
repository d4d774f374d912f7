// Repositories: capacity, status, backups; add (local, NFS, CIFS), rescan, delete.
import { api } from "/api.js";
import { el, bytes, badge, openDialog, deleteButton, submitDialog, field, reloader } from "/dom.js";

export async function repositoriesPage(root) {
  root.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  const list = await api("/repositories");
  const status = el("p", { class: "status", role: "status" });
  const reload = reloader(repositoriesPage, root);
  const add = el("button", {}, "Add repository");
  add.addEventListener("click", () => repositoryDialog(reload));
  const cards = list.repositories.map((repository) => {
    const used = repository.total_bytes ? Math.round(repository.used_bytes * 100 / repository.total_bytes) : 0;
    const rescan = el("button", { class: "secondary" }, "Rescan");
    rescan.addEventListener("click", async () => {
      rescan.disabled = true;
      try {
        const answer = await api(`/repositories/${encodeURIComponent(repository.id)}/rescan`, { method: "POST" });
        reload(`Rescanned ${repository.name}: ${answer.backups_imported} backups imported, ${answer.backups_known} already known` +
          (answer.skipped.length ? `, ${answer.skipped.length} skipped (${answer.skipped.join("; ")})` : "") + ".");
      } catch (failure) {
        status.textContent = `Rescan failed: ${failure.message}`;
        rescan.disabled = false;
      }
    });
    const remove = deleteButton({ title: "Delete repository",
      question: `Forget the repository ${repository.name}? Only an empty repository can be deleted; its folder stays on disk.`,
      path: `/repositories/${encodeURIComponent(repository.id)}`, name: repository.name, reload, status });
    const where = repository.type === "nfs" ? `${repository.nfs_server}:${repository.nfs_export}` : repository.type === "cifs" ? repository.cifs_share : repository.path;
    return el("section", { class: "card repository", "aria-label": repository.name },
      el("h2", {}, repository.name, " ", badge(repository.status), repository.immutable ? badge(`immutable ${repository.immutable_days ?? ""} d`) : ""),
      el("p", { class: "muted" }, `${repository.type.toUpperCase()} · ${where}`),
      el("meter", { min: 0, max: 100, value: used, high: 85, "aria-label": `${repository.name} used` }),
      el("p", {}, `${bytes(repository.used_bytes)} used of ${bytes(repository.total_bytes)}, ${bytes(repository.available_bytes)} free · ${repository.backup_count} backups`),
      repository.status_message ? el("p", { class: "error" }, repository.status_message) : null,
      el("p", { class: "row-actions" }, rescan, remove));
  });
  root.replaceChildren(el("h1", {}, "Repositories"), el("div", { class: "toolbar" }, add), status,
    cards.length ? el("div", { class: "cards" }, cards) : el("p", { class: "muted" }, "No repository: add one to store backups."));
}

function repositoryDialog(reload) {
  const name = el("input", { name: "name", required: true });
  const type = el("select", { name: "type" }, el("option", { value: "local" }, "Local folder"), el("option", { value: "nfs" }, "NFS"), el("option", { value: "cifs" }, "CIFS / SMB"));
  const inputs = {
    path: el("input", { name: "path", placeholder: "/backup/repository" }),
    nfs_server: el("input", { name: "nfs_server", placeholder: "nas.example.com" }),
    nfs_export: el("input", { name: "nfs_export", placeholder: "/export/backups" }),
    cifs_share: el("input", { name: "cifs_share", placeholder: "//nas/backups" }),
    username: el("input", { name: "username", autocomplete: "off" }),
    password: el("input", { name: "password", type: "password", autocomplete: "new-password" }),
    mount_options: el("input", { name: "mount_options", placeholder: "vers=4.1" }),
    immutable_days: el("input", { name: "immutable_days", type: "number", min: 1 }),
  };
  const groups = {
    local: [field("Folder on the hub", inputs.path)],
    nfs: [field("NFS server", inputs.nfs_server), field("Export", inputs.nfs_export), field("Mount options", inputs.mount_options)],
    cifs: [field("Share", inputs.cifs_share), field("User name", inputs.username), field("Password", inputs.password), field("Mount options", inputs.mount_options)],
  };
  const specific = el("div");
  const showType = () => specific.replaceChildren(...groups[type.value]);
  type.addEventListener("change", showType);
  showType();
  const error = el("p", { class: "error", role: "alert" });
  const save = el("button", { type: "submit" }, "Add repository");
  const form = el("form", { class: "wizard" }, field("Name", name), field("Type", type), specific,
    field("Immutable for (days)", inputs.immutable_days, "Restore points younger than this can be neither deleted nor merged. Empty: not immutable."),
    error, el("p", { class: "actions" }, save));
  const dialog = openDialog("Add a repository", form);
  submitDialog(form, { button: save, error, dialog,
    send: () => {
      const body = { name: name.value.trim(), type: type.value };
      for (const input of specific.querySelectorAll("input")) if (input.value.trim()) body[input.name] = input.value.trim();
      if (inputs.immutable_days.value) { body.immutable = true; body.immutable_days = Number(inputs.immutable_days.value); }
      return api("/repositories", { method: "POST", body });
    },
    done: () => reload(`Added ${name.value.trim()}.`) });
}
