// Recoveries: VMs running from restore points (instant recovery), with
// Migrate (to their own disks, while they run) and Stop (their writes
// discarded); the newest ended sessions below them. Refreshed every 2 s;
// each running VM's screen below, refreshed every 5 s.
import { api, imageURL } from "/api.js";
import { el, badge, dateTime, confirmAction, field, openDialog, submitDialog } from "/dom.js";

export async function recoveriesPage(root, _args, signal) {
  root.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  const status = el("p", { class: "status", role: "status" });
  const body = el("tbody");
  const screens = el("div", { class: "screens" });
  /** recovery_id -> its figure, kept across refreshes so an image is replaced only when a new one came. */
  const shown = new Map();
  let running = [];

  async function load() {
    const answer = await api("/recoveries?limit=50");
    running = answer.recoveries.filter((session) => session.state === "running");
    body.replaceChildren(...answer.recoveries.map(row));
    if (answer.count === 0) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "muted" },
        "No instant recovery yet: start one from a restore point (Restore, then Whole VM).")));
    }
  }

  function row(session) {
    const actions = el("td", { class: "row-actions" });
    if (session.state === "running") {
      const migrate = el("button", { class: "link" }, "Migrate");
      migrate.addEventListener("click", () => migrateDialog(session));
      const stop = el("button", { class: "link danger-text" }, "Stop");
      stop.addEventListener("click", async () => {
        if (!await confirmAction(`Stop ${session.domain_name}?`,
          "The VM is destroyed and everything it wrote since it started is discarded. The restore point stays as it was.", "Stop")) return;
        try {
          await api(`/recoveries/${encodeURIComponent(session.recovery_id)}/stop`, { method: "POST" });
          status.textContent = `Stopped ${session.domain_name}.`;
          await load();
        } catch (failure) {
          status.textContent = `Not stopped: ${failure.message}`;
        }
      });
      actions.append(migrate, stop);
    }
    const vmState = session.vm_state ? ` (VM ${session.vm_state})` : "";
    return el("tr", {},
      el("th", { scope: "row" }, session.domain_name),
      el("td", {}, badge(session.state), vmState, session.error_message ? el("div", { class: "error small" }, session.error_message) : null),
      el("td", {}, session.vm_name, el("div", { class: "muted small" }, el("a", { href: `#restore/${encodeURIComponent(session.backup_id)}` }, session.backup_id))),
      el("td", {}, session.network ?? "as stored"),
      el("td", {}, dateTime(session.created_at), session.migrated_to ? el("div", { class: "muted small" }, `→ ${session.migrated_to}`) : null),
      actions);
  }

  async function refreshScreens() {
    for (const [id, figure] of shown) {
      if (!running.some((session) => session.recovery_id === id)) { figure.remove(); shown.delete(id); }
    }
    for (const session of running) {
      let figure = shown.get(session.recovery_id);
      if (!figure) {
        figure = el("figure", {}, el("img", { class: "screenshot", alt: `The screen of ${session.domain_name}` }),
          el("figcaption", { class: "muted small" }, session.domain_name));
        shown.set(session.recovery_id, figure);
        screens.append(figure);
      }
      try {
        figure.querySelector("img").src = await imageURL(`/recoveries/${encodeURIComponent(session.recovery_id)}/screenshot`);
        figure.querySelector("figcaption").textContent = `${session.domain_name}, ${new Date().toLocaleTimeString()}`;
      } catch (failure) {
        figure.querySelector("figcaption").textContent = `${session.domain_name}: no screen (${failure.message})`;
      }
    }
  }

  function migrateDialog(session) {
    const folder = el("input", { name: "directory", required: true, placeholder: "/var/lib/libvirt/images" });
    const error = el("p", { class: "error", role: "alert" });
    const button = el("button", { type: "submit" }, "Copy and switch");
    const form = el("form", { class: "wizard" },
      el("p", { class: "muted" }, "Its disks are copied while it runs and writes; then it switches to the copies without a pause and is defined for good."),
      field("Folder", folder, "On the hub's host, outside the repositories; each disk becomes <domain>-<disk>.qcow2"),
      error, el("p", { class: "actions" }, button));
    const dialog = openDialog(`Migrate ${session.domain_name}`, form);
    folder.focus();
    submitDialog(form, { button, error, dialog,
      send: () => api(`/recoveries/${encodeURIComponent(session.recovery_id)}/migrate`, { method: "POST", body: { directory: folder.value.trim() } }),
      done: () => {
        status.textContent = `Copying the disks of ${session.domain_name}; it keeps running meanwhile.`;
        load().catch(() => {});
      } });
  }

  root.replaceChildren(el("h1", {}, "Recoveries"),
    el("p", { class: "muted" }, "VMs running straight from their backups. Migrate moves one to its own disks while it runs; Stop discards it."),
    status,
    el("div", { class: "table" }, el("table", {},
      el("thead", {}, el("tr", {}, ["Domain", "State", "From", "Network", "Started", "Actions"].map((label) => el("th", { scope: "col" }, label)))),
      body)),
    el("h2", {}, "Screens"), screens);
  await load();
  refreshScreens();
  // Sessions change on their own (a migration ends, a guest powers off): polled while the page is open.
  const timer = setInterval(() => load().catch((failure) => { status.textContent = `${failure.message} (retrying)`; }), 2000);
  const screenTimer = setInterval(refreshScreens, 5000);
  signal.addEventListener("abort", () => { clearInterval(timer); clearInterval(screenTimer); });
}
