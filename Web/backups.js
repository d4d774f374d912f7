// Backups: every restore point (or one VM's), with its chain per repository
// (full → incrementals), restore and delete.
import { api } from "/api.js";
import { el, bytes, duration, badge, consistencyBadge, bootBadge, dateTime, confirmAction, plural } from "/dom.js";

const PAGE = 50;

export async function backupsPage(root, [vmName]) {
  root.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  const [contexts, repositories] = await Promise.all([api("/vm-contexts"), api("/repositories")]);
  if (vmName && !contexts.vm_contexts.some((vm) => vm.vm_name === vmName)) {
    root.replaceChildren(el("h1", {}, "Backups"), el("p", { class: "notice error", role: "alert" }, `VM not found: ${vmName}.`),
      el("a", { href: "#vms" }, "Back to Virtual Machines"));
    return;
  }
  const repositoryName = Object.fromEntries(repositories.repositories.map((repository) => [repository.id, repository.name]));
  const pick = el("select", { "aria-label": "VM" }, el("option", { value: "" }, "All VMs"),
    contexts.vm_contexts.map((vm) => el("option", { value: vm.vm_name, selected: vm.vm_name === vmName }, vm.vm_name)));
  pick.addEventListener("change", () => { location.hash = pick.value ? `#backups/${encodeURIComponent(pick.value)}` : "#backups"; });
  const statusFilter = el("select", { "aria-label": "Status" },
    ["", "completed", "failed", "cancelled", "in_progress"].map((value) => el("option", { value }, value ? value.replace("_", " ") : "Any status")));
  const chains = el("div", { class: "chains" });
  const body = el("tbody");
  const more = el("button", { class: "secondary", hidden: true }, "Show more");
  const status = el("p", { role: "status", class: "status" });
  let offset = 0;

  async function load(reset) {
    if (reset) offset = 0;
    const query = new URLSearchParams({ limit: PAGE, offset });
    if (vmName) query.set("vm_name", vmName);
    if (statusFilter.value) query.set("status", statusFilter.value);
    const list = await api(`/backups?${query}`);
    const rows = list.backups.map(row);
    if (reset) body.replaceChildren(...rows); else body.append(...rows);
    if (list.total_count === 0) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: 8, class: "muted" },
        vmName ? `No backups of ${vmName} yet: start one from Virtual Machines.` : "No backups match.")));
    }
    offset += list.backups.length;
    more.hidden = offset >= list.total_count;
  }

  function row(backup) {
    const actions = el("td", { class: "row-actions" });
    if (backup.status === "completed") actions.append(el("a", { href: `#restore/${encodeURIComponent(backup.backup_id)}` }, "Restore"));
    if (backup.status === "started" || backup.status === "in_progress") {
      actions.append(el("a", { href: `#progress/${encodeURIComponent(backup.backup_id)}` }, "Progress"));
    }
    actions.append(el("a", { href: `#vm/${encodeURIComponent(backup.vm_name)}/performance/${encodeURIComponent(backup.backup_id)}` }, "Performance"));
    const remove = el("button", { class: "link danger-text" }, "Delete");
    remove.addEventListener("click", () => deleteBackup(backup, remove));
    actions.append(remove);
    return el("tr", {},
      el("td", { title: backup.backup_id }, dateTime(backup.created_at)),
      el("th", { scope: "row" }, el("a", { href: `#backups/${encodeURIComponent(backup.vm_name)}` }, backup.vm_name)),
      el("td", {}, badge(backup.backup_type)), el("td", {}, badge(backup.status)),
      el("td", {}, bytes(backup.total_size_gb * 2 ** 30)), el("td", {}, backup.disk_count),
      el("td", {}, backup.duration_seconds != null ? duration(backup.duration_seconds) : "–"),
      actions);
  }

  async function deleteBackup(backup, button) {
    const sure = await confirmAction("Delete backup", `Delete the ${backup.backup_type} backup of ${backup.vm_name} from ${dateTime(backup.created_at)}? Its files are removed from the repository.`, "Delete");
    if (!sure) return;
    button.disabled = true;
    try {
      await api(`/backups/${encodeURIComponent(backup.backup_id)}`, { method: "DELETE" });
      status.textContent = `Deleted ${backup.backup_id}.`;
      await Promise.all([load(true), showChains()]);
    } catch (failure) {
      status.textContent = `Not deleted: ${failure.message}`;
      button.disabled = false;
    }
  }

  async function showChains() {
    if (!vmName) { chains.replaceChildren(); return; }
    const answers = await Promise.all(repositories.repositories.map((repository) =>
      api(`/backups/chain?vm_name=${encodeURIComponent(vmName)}&repository_id=${encodeURIComponent(repository.id)}`).catch(() => null)));
    chains.replaceChildren(...answers.filter((chain) => chain && chain.total_backups > 0).map((chain) =>
      el("section", { class: "chain", "aria-label": `Chain in ${repositoryName[chain.repository_id] ?? chain.repository_id}` },
        el("h2", {}, `Chain in ${repositoryName[chain.repository_id] ?? chain.repository_id}`,
          el("span", { class: "muted" }, ` · ${plural(chain.total_backups, "point")}, ${bytes(chain.chain_size_gb * 2 ** 30)}`)),
        el("ol", { class: "timeline" }, chain.chain.map((point) =>
          el("li", { class: point.is_restorable ? "" : "broken" },
            badge(point.backup_type),
            consistencyBadge(point.consistency),
            bootBadge(point.boot_check),
            el("span", {}, dateTime(point.created_at)),
            el("span", { class: "muted" }, bytes(point.size_gb * 2 ** 30)),
            point.is_restorable ? el("a", { href: `#restore/${encodeURIComponent(point.backup_id)}` }, "Restore")
              : el("span", { class: "error" }, "not restorable")))))));
  }

  statusFilter.addEventListener("change", () => load(true).catch((failure) => { status.textContent = failure.message; }));
  more.addEventListener("click", () => load(false).catch((failure) => { status.textContent = failure.message; }));
  root.replaceChildren(
    el("h1", {}, vmName ? `Backups of ${vmName}` : "Backups"),
    el("div", { class: "toolbar" }, pick, statusFilter),
    chains, status,
    el("div", { class: "table" }, el("table", {},
      el("thead", {}, el("tr", {}, ["Date", "VM", "Type", "Status", "Size", "Disks", "Duration", "Actions"].map((label) => el("th", { scope: "col" }, label)))),
      body)),
    more);
  await Promise.all([load(true), showChains()]);
}
