// Virtual Machines: searchable, sortable list with Backup Now (the backup
// history page and the backup wizard come next).
import { api } from "/api.js";
import { el, bytes, relativeTime } from "/dom.js";

const columns = [
  ["vm_name", "Name"], ["power_state", "Power"], ["cpu_count", "CPU"], ["memory_mb", "RAM"],
  ["disks", "Disks"], ["last_backup_at", "Last backup"], ["current_status", "Status"],
];

export async function vms(root) {
  root.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  const [list, repositories] = await Promise.all([api("/vm-contexts"), api("/repositories")]);
  const disks = await Promise.all(list.vm_contexts.map((vm) =>
    api(`/vm-contexts/${encodeURIComponent(vm.vm_name)}/disks`).catch(() => ({ disks: [] }))));
  const rows = list.vm_contexts.map((vm, index) => ({
    ...vm, disks: disks[index].disks.length, capacity: disks[index].disks.reduce((sum, disk) => sum + disk.capacity_bytes, 0),
  }));
  let sortKey = "vm_name", ascending = true;
  const search = el("input", { type: "search", placeholder: "Search VMs", "aria-label": "Search VMs" });
  const status = el("p", { class: "status", role: "status" });
  const body = el("tbody");
  const header = el("tr", {}, columns.map(([key, label]) => {
    const button = el("button", { class: "link sort", "data-key": key }, label);
    button.addEventListener("click", () => {
      ascending = sortKey === key ? !ascending : true;
      sortKey = key;
      render();
    });
    return el("th", { scope: "col", "aria-sort": "none" }, button);
  }), el("th", { scope: "col" }, "Actions"));

  function render() {
    const term = search.value.trim().toLowerCase();
    const shown = rows.filter((vm) => vm.vm_name.toLowerCase().includes(term))
      .sort((a, b) => compare(a[sortKey], b[sortKey]) * (ascending ? 1 : -1));
    for (const th of header.querySelectorAll("th")) {
      const key = th.firstChild?.dataset?.key;
      if (key) th.setAttribute("aria-sort", key === sortKey ? (ascending ? "ascending" : "descending") : "none");
    }
    body.replaceChildren(...shown.map((vm) => {
      const backup = el("button", {}, "Backup Now");
      backup.addEventListener("click", () => backupNow(vm, repositories.repositories, backup, status));
      return el("tr", {},
        el("th", { scope: "row" }, vm.vm_name), el("td", {}, vm.power_state ?? "–"), el("td", {}, vm.cpu_count ?? "–"),
        el("td", {}, vm.memory_mb ? `${vm.memory_mb} MB` : "–"), el("td", {}, `${vm.disks} (${bytes(vm.capacity)})`),
        el("td", { title: vm.last_backup_at ?? "" }, vm.last_backup_at ? relativeTime(vm.last_backup_at) : "never"),
        el("td", {}, vm.current_status), el("td", {}, backup));
    }));
    if (shown.length === 0) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: columns.length + 1, class: "muted" },
        rows.length === 0 ? "No VMs yet: add a QEMU image VM or discover a vCenter." : "No VM matches the search.")));
    }
  }
  search.addEventListener("input", render);
  root.replaceChildren(el("h1", {}, "Virtual Machines"), search, status,
    el("div", { class: "table" }, el("table", {}, el("thead", {}, header), body)));
  render();
}

async function backupNow(vm, repositories, button, status) {
  const repository = repositories.find((item) => item.enabled && item.status === "online");
  if (!repository) {
    status.textContent = "No repository is online: add or fix one first.";
    return;
  }
  button.disabled = true;
  try {
    const started = await api("/backups", { method: "POST", body: { vm_name: vm.vm_name, repository_id: repository.id, backup_type: "incremental" } });
    status.textContent = `Started ${started.backup_type} backup ${started.backup_id} of ${vm.vm_name}.`;
  } catch (failure) {
    status.textContent = `Backup of ${vm.vm_name} not started: ${failure.message}`;
  } finally {
    button.disabled = false;
  }
}

function compare(a, b) {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  return typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b));
}
