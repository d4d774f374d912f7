// Protection: flows (what is backed up, where, when, kept how long) and
// groups of VMs. Create, edit, run now, executions, delete.
import { api } from "/api.js";
import { el, badge, dateTime, relativeTime, openDialog, deleteButton, submitDialog, field, reloader } from "/dom.js";

const RETENTION = [["keep_last", "Last"], ["keep_daily", "Daily"], ["keep_weekly", "Weekly"], ["keep_monthly", "Monthly"], ["keep_yearly", "Yearly"]];

export async function flowsPage(root) {
  root.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  const [flows, groups, contexts, repositories] = await Promise.all([
    api("/protection-flows"), api("/protection-groups"), api("/vm-contexts"), api("/repositories")]);
  const status = el("p", { class: "status", role: "status" });
  const reload = reloader(flowsPage, root);
  const newFlow = el("button", {}, "New flow");
  newFlow.addEventListener("click", () => flowDialog(null, { groups, contexts, repositories }, reload));
  const newGroup = el("button", { class: "secondary" }, "New group");
  newGroup.addEventListener("click", () => groupDialog(null, contexts, reload));

  const flowRows = flows.flows.map((flow) => {
    const run = el("button", {}, "Run now");
    run.addEventListener("click", async () => {
      run.disabled = true;
      try {
        await api(`/protection-flows/${flow.id}/execute`, { method: "POST" });
        status.textContent = `${flow.name} started: see Jobs for progress.`;
      } catch (failure) {
        status.textContent = `${flow.name} not started: ${failure.message}`;
      } finally {
        run.disabled = false;
      }
    });
    const history = el("button", { class: "secondary" }, "Executions");
    history.addEventListener("click", () => executionsDialog(flow));
    const edit = el("button", { class: "secondary" }, "Edit");
    edit.addEventListener("click", () => flowDialog(flow, { groups, contexts, repositories }, reload));
    const remove = deleteButton({ title: "Delete flow", question: `Delete the flow ${flow.name}? Its backups stay.`,
      path: `/protection-flows/${flow.id}`, name: flow.name, reload, status });
    const keep = RETENTION.filter(([key]) => flow.retention?.[key]).map(([key, label]) => `${label.toLowerCase()} ${flow.retention[key]}`).join(", ");
    return el("tr", {},
      el("th", { scope: "row" }, flow.name, flow.enabled ? "" : el("span", { class: "muted" }, " (paused)")),
      el("td", {}, `${flow.target_type === "group" ? "group" : "VM"} ${flow.target_name ?? flow.target_id} (${flow.vm_count})`),
      el("td", {}, flow.schedule, el("div", { class: "muted small" }, flow.next_run_at ? `next ${relativeTime(flow.next_run_at)}` : "")),
      el("td", {}, `${flow.backup_type}${flow.full_every ? `, full ${flow.full_every === "weekly" ? "weekly" : "every " + flow.full_every}` : ""}`,
        flow.boot_check ? el("div", { class: "muted small" }, "verified by booting") : ""),
      el("td", {}, keep || "keep all"),
      el("td", {}, flow.last_execution_status ? badge(flow.last_execution_status) : el("span", { class: "muted" }, "never run")),
      el("td", { class: "row-actions" }, run, history, edit, remove));
  });
  const groupRows = groups.groups.map((group) => {
    const edit = el("button", { class: "secondary" }, "Edit");
    edit.addEventListener("click", () => groupDialog(group, contexts, reload));
    const remove = deleteButton({ title: "Delete group", question: `Delete the group ${group.name}?`,
      path: `/protection-groups/${group.id}`, name: group.name, reload, status });
    return el("tr", {}, el("th", { scope: "row" }, group.name), el("td", {}, group.description ?? ""),
      el("td", { class: "wrap" }, group.vm_names.join(", ") || el("span", { class: "muted" }, "no VMs")), el("td", { class: "row-actions" }, edit, remove));
  });
  root.replaceChildren(el("h1", {}, "Protection"), el("div", { class: "toolbar" }, newFlow, newGroup), status,
    el("h2", {}, "Flows"),
    flowRows.length === 0 ? el("p", { class: "muted" }, "No protection flow yet: create one to back up on a schedule.") :
      el("div", { class: "table" }, el("table", {}, el("thead", {}, el("tr", {},
        ["Name", "Target", "Schedule", "Type", "Retention", "Last run", "Actions"].map((label) => el("th", { scope: "col" }, label)))), el("tbody", {}, flowRows))),
    el("h2", {}, "Groups"),
    groupRows.length === 0 ? el("p", { class: "muted" }, "No groups yet.") :
      el("div", { class: "table" }, el("table", {}, el("thead", {}, el("tr", {},
        ["Name", "Description", "VMs", "Actions"].map((label) => el("th", { scope: "col" }, label)))), el("tbody", {}, groupRows))));
}

function flowDialog(flow, { groups, contexts, repositories }, reload) {
  const name = el("input", { name: "name", required: true, value: flow?.name ?? "" });
  const targetType = el("select", { name: "target_type" }, el("option", { value: "vm" }, "One VM"), el("option", { value: "group" }, "A group"));
  targetType.value = flow?.target_type ?? "vm";
  const target = el("select", { name: "target_id", required: true });
  const fillTargets = () => {
    const options = targetType.value === "group" ? groups.groups.map((group) => [String(group.id), group.name]) : contexts.vm_contexts.map((vm) => [vm.vm_name, vm.vm_name]);
    target.replaceChildren(...options.map(([value, label]) => el("option", { value, selected: value === flow?.target_id }, label)));
  };
  targetType.addEventListener("change", fillTargets);
  fillTargets();
  const repository = el("select", { name: "repository_id" }, repositories.repositories.map((item) =>
    el("option", { value: item.id, selected: item.id === flow?.repository_id }, item.name)));
  const schedule = el("input", { name: "schedule", required: true, value: flow?.schedule ?? "0 2 * * *" });
  const timeZone = el("input", { name: "time_zone", value: flow?.time_zone ?? Intl.DateTimeFormat().resolvedOptions().timeZone });
  const backupType = el("select", { name: "backup_type" }, el("option", { value: "incremental" }, "Incremental"), el("option", { value: "full" }, "Full"));
  backupType.value = flow?.backup_type ?? "incremental";
  const fullEvery = el("input", { name: "full_every", value: flow?.full_every ?? "", placeholder: "7 or weekly" });
  const keeps = RETENTION.map(([key, label]) => field(label, el("input", { type: "number", min: 0, name: key, value: flow?.retention?.[key] ?? "" })));
  const enabled = el("input", { type: "checkbox", name: "enabled", checked: flow?.enabled ?? true });
  const bootCheck = el("input", { type: "checkbox", name: "boot_check", checked: flow?.boot_check ?? false });
  const error = el("p", { class: "error", role: "alert" });
  const save = el("button", { type: "submit" }, flow ? "Save" : "Create flow");
  const form = el("form", { class: "wizard" },
    field("Name", name), el("div", { class: "row" }, field("Protects", targetType), field("Target", target)),
    field("Repository", repository),
    el("div", { class: "row" }, field("Schedule", schedule, "Cron (minute hour day month weekday) or every 4h"), field("Time zone", timeZone)),
    el("div", { class: "row" }, field("Backup type", backupType), field("Full backup every", fullEvery, "A number of runs, or weekly; empty for never")),
    el("fieldset", {}, el("legend", {}, "Keep restore points"), el("div", { class: "row" }, keeps)),
    el("div", { class: "row" }, el("label", { class: "choice" }, enabled, " Enabled"),
      el("label", { class: "choice" }, bootCheck, " Verify each backup by booting it")),
    error, el("p", { class: "actions" }, save));
  const dialog = openDialog(flow ? `Edit ${flow.name}` : "New protection flow", form);
  submitDialog(form, { button: save, error, dialog,
    send: () => {
      const retention = {};
      for (const [key] of RETENTION) {
        const value = form.elements[key].value;
        if (value !== "") retention[key] = Number(value);
      }
      const every = fullEvery.value.trim();
      const body = { name: name.value.trim(), target_type: targetType.value, target_id: target.value, repository_id: repository.value,
        schedule: schedule.value.trim(), time_zone: timeZone.value.trim() || undefined, backup_type: backupType.value,
        full_every: every === "" ? null : every === "weekly" ? "weekly" : Number(every), retention, enabled: enabled.checked,
        boot_check: bootCheck.checked };
      return api(flow ? `/protection-flows/${flow.id}` : "/protection-flows", { method: flow ? "PUT" : "POST", body });
    },
    done: () => reload(flow ? `Saved ${name.value.trim()}.` : `Created ${name.value.trim()}.`) });
}

function groupDialog(group, contexts, reload) {
  const name = el("input", { name: "name", required: true, value: group?.name ?? "" });
  const description = el("input", { name: "description", value: group?.description ?? "" });
  const members = new Set(group?.vm_names ?? []);
  const picks = el("fieldset", { class: "columns" }, el("legend", {}, "VMs"), contexts.vm_contexts.map((vm) => {
    const check = el("input", { type: "checkbox", value: vm.vm_name, checked: members.has(vm.vm_name) });
    return el("label", { class: "choice" }, check, ` ${vm.vm_name}`);
  }));
  const error = el("p", { class: "error", role: "alert" });
  const save = el("button", { type: "submit" }, group ? "Save" : "Create group");
  const form = el("form", { class: "wizard" }, field("Name", name), field("Description", description), picks, error, el("p", { class: "actions" }, save));
  const dialog = openDialog(group ? `Edit ${group.name}` : "New protection group", form);
  submitDialog(form, { button: save, error, dialog,
    send: () => api(group ? `/protection-groups/${group.id}` : "/protection-groups", { method: group ? "PUT" : "POST",
      body: { name: name.value.trim(), description: description.value.trim(), vm_names: [...picks.querySelectorAll("input:checked")].map((check) => check.value) } }),
    done: () => reload(group ? `Saved ${name.value.trim()}.` : `Created ${name.value.trim()}.`) });
}

async function executionsDialog(flow) {
  const box = el("div", {}, el("p", { class: "muted" }, "Loading…"));
  const dialog = openDialog(`Executions of ${flow.name}`, box);
  dialog.classList.add("wide");
  try {
    const [executions, machines] = await Promise.all([api(`/protection-flows/${flow.id}/executions`), api(`/protection-flows/${flow.id}/machines`)]);
    box.replaceChildren(
      el("h3", {}, "Machines"),
      el("div", { class: "table" }, el("table", {}, el("thead", {}, el("tr", {}, ["VM", "Last backup", "Restore points", "Next run"].map((label) => el("th", { scope: "col" }, label)))),
        el("tbody", {}, machines.machines.map((machine) => el("tr", {}, el("th", { scope: "row" }, machine.vm_name),
          el("td", {}, machine.last_backup_at ? [badge(machine.last_backup_status ?? "?"), ` ${dateTime(machine.last_backup_at)}`] : "never"),
          el("td", {}, machine.restore_points), el("td", {}, machine.next_run_at ? dateTime(machine.next_run_at) : "–")))))),
      el("h3", {}, "Runs"),
      executions.count === 0 ? el("p", { class: "muted" }, "Not run yet.") :
        el("ul", { class: "executions" }, executions.executions.map((run) => el("li", {},
          badge(run.status), ` ${dateTime(run.started_at)} (${run.trigger ?? "scheduled"})`,
          run.error_message ? el("div", { class: "error small" }, run.error_message) : null,
          el("ul", {}, run.vms.map((vm) => el("li", {}, `${vm.vm_name}: `, badge(vm.status),
            vm.backup_id ? [" ", el("a", { href: `#progress/${encodeURIComponent(vm.backup_id)}` }, vm.backup_id)] : null,
            vm.error_message ? el("span", { class: "error small" }, ` ${vm.error_message}`) : null)))))));
  } catch (failure) {
    box.replaceChildren(el("p", { class: "error", role: "alert" }, failure.message));
  }
}
