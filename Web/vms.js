// Virtual Machines: searchable, sortable list; Backup Now (straight to the
// progress view), the backup wizard, View Backups, machine details; the
// Discover VMs dialog (vCenter), the Discover libvirt dialog (a libvirt host's
// domains, backed up live while they run), the Add QEMU image VM form and the
// Add running QEMU form (a QMP socket).
import { api } from "/api.js";
import { el, bytes, relativeTime, openDialog, submitDialog, field, badge, plural, sortHeaders, reloader } from "/dom.js";

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
    ...vm, diskList: disks[index].disks, disks: disks[index].disks.length,
    capacity: disks[index].disks.reduce((sum, disk) => sum + disk.capacity_bytes, 0),
  }));
  const search = el("input", { type: "search", placeholder: "Search VMs", "aria-label": "Search VMs" });
  const status = el("p", { class: "status", role: "status" });
  const body = el("tbody");
  const discover = el("button", { class: "secondary" }, "Discover VMs");
  const libvirt = el("button", { class: "secondary" }, "Discover libvirt");
  const addQemu = el("button", { class: "secondary" }, "Add QEMU VM");
  const addQMP = el("button", { class: "secondary" }, "Add running QEMU");
  discover.addEventListener("click", () => discoverDialog(reloader(vms, root)));
  libvirt.addEventListener("click", () => libvirtDialog(reloader(vms, root)));
  addQemu.addEventListener("click", () => addQemuDialog(reloader(vms, root)));
  addQMP.addEventListener("click", () => addQMPDialog(reloader(vms, root)));
  const [sortCells, order] = sortHeaders(columns, "vm_name", () => render());
  const header = el("tr", {}, sortCells, el("th", { scope: "col" }, "Actions"));

  function render() {
    const term = search.value.trim().toLowerCase();
    const shown = rows.filter((vm) => vm.vm_name.toLowerCase().includes(term))
      .sort((a, b) => compare(a[order.key], b[order.key]) * (order.ascending ? 1 : -1));
    order.mark();
    body.replaceChildren(...shown.map((vm) => {
      const now = el("button", {}, "Backup Now");
      now.addEventListener("click", () => backupNow(vm, repositories.repositories, now, status));
      const wizard = el("button", { class: "secondary" }, "Backup…");
      wizard.addEventListener("click", () => backupWizard(vm, repositories.repositories));
      return el("tr", {},
        el("th", { scope: "row" }, el("a", { href: `#vm/${encodeURIComponent(vm.vm_name)}`, title: "Details" }, vm.vm_name)),
        el("td", {}, vm.power_state ?? "–"), el("td", {}, vm.cpu_count ?? "–"),
        el("td", {}, vm.memory_mb ? `${vm.memory_mb} MB` : "–"), el("td", {}, `${vm.disks} (${bytes(vm.capacity)})`),
        el("td", { title: vm.last_backup_at ?? "" }, vm.last_backup_at ? relativeTime(vm.last_backup_at) : "never"),
        el("td", {}, badge(vm.current_status)),
        el("td", { class: "row-actions" }, now, wizard, el("a", { href: `#backups/${encodeURIComponent(vm.vm_name)}` }, "View Backups")));
    }));
    if (shown.length === 0) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: columns.length + 1, class: "muted" },
        rows.length === 0 ? "No VMs yet: discover a vCenter or this machine's libvirt domains, or add a QEMU image VM." : "No VM matches the search.")));
    }
  }
  search.addEventListener("input", render);
  root.replaceChildren(el("h1", {}, "Virtual Machines"),
    el("div", { class: "toolbar" }, search, discover, libvirt, addQemu, addQMP), status,
    el("div", { class: "table" }, el("table", {}, el("thead", {}, header), body)));
  render();
}

function usableRepositories(repositories) {
  return repositories.filter((item) => item.enabled && item.status === "online");
}

/** An incremental (a full when there is no chain yet) to the first online repository, then its progress. */
async function backupNow(vm, repositories, button, status) {
  const repository = usableRepositories(repositories)[0];
  if (!repository) {
    status.textContent = "No repository is online: add or fix one under Repositories first.";
    return;
  }
  button.disabled = true;
  try {
    const started = await api("/backups", { method: "POST", body: { vm_name: vm.vm_name, repository_id: repository.id, backup_type: "incremental" } });
    location.hash = `#progress/${encodeURIComponent(started.backup_id)}`;
  } catch (failure) {
    status.textContent = `Backup of ${vm.vm_name} not started: ${failure.message}`;
    button.disabled = false;
  }
}

/** The backup wizard: type, repository (with its free space), disks (with sizes and the total), Start. */
function backupWizard(vm, repositories) {
  const usable = usableRepositories(repositories);
  const types = el("fieldset", {}, el("legend", {}, "Backup type"),
    [["incremental", "Incremental (only what changed; the first one is full)"], ["full", "Full (every allocated block)"]].map(([value, label], index) =>
      el("label", { class: "choice" }, el("input", { type: "radio", name: "backup_type", value, checked: index === 0 }), ` ${label}`)));
  const repository = el("select", { name: "repository", required: true }, usable.map((item) =>
    el("option", { value: item.id }, `${item.name} — ${bytes(item.available_bytes)} free of ${bytes(item.total_bytes)}`)));
  const total = el("strong");
  const checks = vm.diskList.map((disk) => el("input", { type: "checkbox", name: "disk", value: disk.disk_index, checked: true }));
  const disks = el("fieldset", {}, el("legend", {}, "Disks"),
    vm.diskList.map((disk, index) => el("label", { class: "choice" }, checks[index],
      ` ${disk.label ?? "Disk " + disk.disk_index} — ${bytes(disk.capacity_bytes)}`)),
    el("p", {}, "Total: ", total));
  const update = () => {
    total.textContent = bytes(vm.diskList.filter((_, index) => checks[index].checked).reduce((sum, disk) => sum + disk.capacity_bytes, 0));
    start.disabled = !checks.some((check) => check.checked) || usable.length === 0;
  };
  const error = el("p", { class: "error", role: "alert" });
  const start = el("button", { type: "submit" }, "Start backup");
  const form = el("form", { class: "wizard" }, types,
    usable.length ? field("Repository", repository) : el("p", { class: "error" }, "No repository is online: add or fix one under Repositories first."),
    disks, error, el("p", { class: "actions" }, start));
  for (const check of checks) check.addEventListener("change", update);
  update();
  const dialog = openDialog(`Back up ${vm.vm_name}`, form);
  submitDialog(form, { button: start, error, dialog,
    send: () => {
      const chosen = vm.diskList.filter((_, index) => checks[index].checked).map((disk) => disk.disk_index);
      return api("/backups", { method: "POST", body: {
        vm_name: vm.vm_name, repository_id: repository.value, backup_type: new FormData(form).get("backup_type"),
        disk_indexes: chosen.length === vm.diskList.length ? undefined : chosen } });
    },
    done: (started) => { location.hash = `#progress/${encodeURIComponent(started.backup_id)}`; } });
}

/** Discover VMs on a vCenter, pick some, add them. */
async function discoverDialog(done) {
  const credentials = await api("/vmware-credentials").catch((failure) => ({ credentials: [], error: failure.message }));
  if (credentials.credentials.length === 0) {
    openDialog("Discover VMs", el("p", {}, credentials.error ?? "No vCenter is configured yet. "), el("a", { href: "#vcenters" }, "Add a vCenter"));
    return;
  }
  const credential = el("select", { name: "credential" }, credentials.credentials.map((item) =>
    el("option", { value: item.id }, `${item.name} (${item.vcenter_host})`)));
  pickAndAdd({
    title: "Discover VMs", where: field("vCenter", credential), example: "pg*", asking: "Asking vCenter…", noun: "VM",
    discover: async (filter) => {
      const answer = await api("/discovery/discover-vms", { method: "POST", body: { credential_id: Number(credential.value), filter, create_context: false } });
      return { found: answer.discovered_vms, count: answer.count, ms: answer.duration_ms };
    },
    headers: ["Name", "Power", "CPU", "RAM", "Disks", "CBT"],
    cells: (vm) => [vm.power_state ?? "–", vm.cpu_count ?? "–", vm.memory_mb ? `${vm.memory_mb} MB` : "–",
      `${vm.disks.length} (${bytes(vm.total_capacity_bytes)})`, vm.cbt_enabled ? "on" : "off"],
    add: (names) => api("/discovery/add-vms", { method: "POST", body: { credential_id: Number(credential.value), vm_names: names } }),
    added: (count, names) => `Added ${plural(count, "VM")}: ${names.join(", ")}.`,
    done });
}

/** Discover the domains of a libvirt host (this machine's, or one reached through SSH), pick some,
 *  protect them (live backups while they run). */
function libvirtDialog(done) {
  const known = el("datalist", { id: "libvirt-uris" }, ["qemu:///system", "qemu:///session"].map((value) => el("option", { value })));
  const uri = el("input", { name: "uri", list: "libvirt-uris", required: true, value: "qemu:///system" });
  const disks = (domain) => domain.disks.map((disk) =>
    `${disk.target} ${disk.capacity_bytes != null ? bytes(disk.capacity_bytes) : "?"}${disk.problem ? ` (not backed up: ${disk.problem})` : ""}`).join(", ");
  pickAndAdd({
    title: "Discover libvirt domains", example: "web*",
    where: el("div", {}, field("libvirt", uri, "This machine (qemu:///system), or another host through SSH with the hub user's key: qemu+ssh://root@kvm1/system"), known), asking: "Asking libvirt…", noun: "domain",
    discover: async (filter) => {
      const answer = await api("/discovery/libvirt/discover-vms", { method: "POST", body: { uri: uri.value.trim(), filter } });
      return { found: answer.domains, count: answer.count, ms: answer.duration_ms };
    },
    headers: ["Name", "Power", "CPU", "RAM", "Firmware", "Disks"],
    cells: (domain) => [domain.power_state, domain.cpu_count, `${domain.memory_mb} MB`, domain.firmware, disks(domain)],
    add: (names) => api("/discovery/libvirt/add-vms", { method: "POST", body: { uri: uri.value.trim(), domains: names } }),
    added: (count, names) => `Added ${plural(count, "VM")}: ${names.join(", ")}. Running domains are backed up live.`,
    done });
}

/** A discovery dialog: where to look and a name filter; what is found, in a
 *  table with a checkbox per row (checked unless already added); Add selected. */
function pickAndAdd({ title, where, example, asking, noun, discover, headers, cells, add, added, done }) {
  const filter = el("input", { name: "filter", placeholder: `e.g. ${example} or a part of a name` });
  const find = el("button", { type: "submit" }, "Discover");
  const result = el("div", { class: "discovered" });
  const status = el("p", { class: "status", role: "status" });
  const form = el("form", { class: "inline-form" }, where, field("Name filter", filter, `A shell pattern (${example}) or part of a name; empty for all.`), find);
  const dialog = openDialog(title, form, status, result);
  dialog.classList.add("wide");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    find.disabled = true;
    status.textContent = asking;
    result.replaceChildren();
    try {
      const answer = await discover(filter.value.trim() || undefined);
      status.textContent = `${plural(answer.count, noun)} found in ${answer.ms} ms.`;
      showFound(answer.found);
    } catch (failure) {
      status.textContent = `Discovery failed: ${failure.message}`;
    } finally {
      find.disabled = false;
    }
  });

  function showFound(found) {
    if (found.length === 0) { result.replaceChildren(el("p", { class: "muted" }, `No ${noun} matches.`)); return; }
    const picks = found.map((item) => el("input", { type: "checkbox", "aria-label": `Add ${item.name}`, checked: !item.context_id }));
    const button = el("button", {}, "Add selected");
    button.addEventListener("click", async () => {
      const names = found.filter((_, index) => picks[index].checked).map((item) => item.name);
      if (names.length === 0) { status.textContent = `Select at least one ${noun}.`; return; }
      button.disabled = true;
      try {
        const answer = await add(names);
        dialog.close();
        done(added(answer.count, names));
      } catch (failure) {
        status.textContent = `Not added: ${failure.message}`;
        button.disabled = false;
      }
    });
    result.replaceChildren(el("div", { class: "table" }, el("table", {},
      el("thead", {}, el("tr", {}, ["", ...headers, ""].map((label) => el("th", { scope: "col" }, label)))),
      el("tbody", {}, found.map((item, index) => el("tr", {}, el("td", {}, picks[index]), el("th", { scope: "row" }, item.name),
        cells(item).map((value) => el("td", {}, value)), el("td", { class: "muted" }, item.context_id ? "already added" : "")))))),
    el("p", { class: "actions" }, button));
  }
}

/** Register a running QEMU by its QMP socket: its disks are asked from QEMU, and it is backed up live. */
function addQMPDialog(done) {
  const name = el("input", { name: "vm_name", required: true, pattern: "[A-Za-z0-9._-]+", placeholder: "pve-101" });
  const socket = el("input", { name: "socket", required: true, placeholder: "/run/sendense-qmp/101.qmp" });
  const agent = el("input", { name: "agent_socket", placeholder: "/run/sendense-qmp/101.qga (optional)" });
  const error = el("p", { class: "error", role: "alert" });
  const save = el("button", { type: "submit" }, "Add VM");
  const form = el("form", { class: "wizard" }, field("VM name", name, "Letters, digits, dot, dash, underscore."),
    field("QMP socket", socket, "A QMP socket of the hub's own on the running QEMU (-qmp unix:PATH,server=on,wait=off): one client at a time."),
    field("Guest agent socket", agent, "Optional: the host end of its guest agent's channel. When the agent answers, backups freeze the guest's filesystems (application-consistent)."),
    error, el("p", { class: "actions" }, save));
  const dialog = openDialog("Add a running QEMU", form);
  name.focus();
  submitDialog(form, { button: save, error, dialog,
    send: () => api("/vm-contexts", { method: "POST", body: { vm_name: name.value.trim(), source: { type: "qmp", socket: socket.value.trim(), ...(agent.value.trim() ? { agent_socket: agent.value.trim() } : {}) } } }),
    done: () => done(`Added ${name.value.trim()}: it is backed up live.`) });
}

/** Register a VM made of qcow2 or raw disk files on the hub. */
function addQemuDialog(done) {
  const name = el("input", { name: "vm_name", required: true, pattern: "[A-Za-z0-9._-]+", placeholder: "lab1" });
  const list = el("div", { class: "disk-rows" });
  const addRow = () => {
    const path = el("input", { name: "path", required: true, placeholder: "/var/lib/libvirt/images/lab1.qcow2", "aria-label": `Disk ${list.children.length + 1} path` });
    const label = el("input", { name: "label", placeholder: `vd${String.fromCharCode(97 + list.children.length)}`, "aria-label": `Disk ${list.children.length + 1} label` });
    list.append(el("div", { class: "disk-row" }, path, label));
  };
  addRow();
  const more = el("button", { type: "button", class: "secondary" }, "Add another disk");
  more.addEventListener("click", addRow);
  const error = el("p", { class: "error", role: "alert" });
  const save = el("button", { type: "submit" }, "Add VM");
  const form = el("form", { class: "wizard" }, field("VM name", name, "Letters, digits, dot, dash, underscore."),
    el("fieldset", {}, el("legend", {}, "Disk files (qcow2 or raw) on the hub"), list, more), error, el("p", { class: "actions" }, save));
  const dialog = openDialog("Add a QEMU image VM", form);
  name.focus();
  submitDialog(form, { button: save, error, dialog,
    send: () => {
      const disks = [...list.children].map((row, index) => {
        const [path, label] = row.querySelectorAll("input");
        return { path: path.value.trim(), label: label.value.trim() || label.placeholder || `disk${index}` };
      });
      return api("/vm-contexts", { method: "POST", body: { vm_name: name.value.trim(), source: { type: "qemu_image", disks } } });
    },
    done: () => done(`Added ${name.value.trim()}.`) });
}

function compare(a, b) {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  return typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b));
}
