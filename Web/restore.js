// Restore: pick a restore point (or reopen a mounted one), then get the whole
// VM back (run it now from the backup, or restore it as a new libvirt
// domain), or pick a disk and browse and download files, download the whole
// disk image, or write it to a path on the hub.
import { api, download, imageURL } from "/api.js";
import { el, bytes, badge, bootBadge, dateTime, field } from "/dom.js";
import { fileBrowser } from "/browser.js";

export async function restorePage(root, [backupId], signal) {
  if (backupId) return restorePoint(root, backupId, signal);
  root.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  const [contexts, mounts] = await Promise.all([api("/vm-contexts"), api("/restore/mounts")]);
  const pick = el("select", { "aria-label": "VM" }, el("option", { value: "" }, "Choose a VM…"),
    contexts.vm_contexts.map((vm) => el("option", { value: vm.vm_name }, vm.vm_name)));
  const points = el("div");
  pick.addEventListener("change", async () => {
    if (!pick.value) { points.replaceChildren(); return; }
    points.replaceChildren(el("p", { class: "muted" }, "Loading…"));
    try {
      const list = await api(`/backups?${new URLSearchParams({ vm_name: pick.value, status: "completed", limit: 200 })}`);
      points.replaceChildren(list.backups.length === 0 ? el("p", { class: "muted" }, `No completed backup of ${pick.value} yet.`) :
        el("ul", { class: "points" }, list.backups.map((backup) => el("li", {},
          el("a", { href: `#restore/${encodeURIComponent(backup.backup_id)}` }, dateTime(backup.created_at)), " ",
          badge(backup.backup_type), el("span", { class: "muted" }, ` ${bytes(backup.total_size_gb * 2 ** 30)}, ${backup.disk_count} disk(s)`)))));
    } catch (failure) {
      points.replaceChildren(el("p", { class: "error", role: "alert" }, failure.message));
    }
  });
  root.replaceChildren(el("h1", {}, "Restore"),
    el("h2", {}, "Open file browsers"),
    mounts.count === 0 ? el("p", { class: "muted" }, "No backup is mounted.") :
      el("ul", { class: "points" }, mounts.mounts.map((mount) => el("li", {},
        el("a", { href: `#restore/${encodeURIComponent(mount.backup_id)}` }, mount.backup_id),
        el("span", { class: "muted" }, ` disk ${mount.disk_index}, ${mount.filesystem_type}, expires ${dateTime(mount.expires_at)}`)))),
    el("h2", {}, "Choose a restore point"), field("VM", pick), points);
}

async function restorePoint(root, backupId, signal) {
  root.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  const backup = await api(`/backups/${encodeURIComponent(backupId)}`);
  const heading = el("h1", {}, `Restore ${backup.vm_name}`);
  const intro = el("p", { class: "muted" }, badge(backup.backup_type), ` ${dateTime(backup.created_at)} · ${backupId}`);
  if (backup.status !== "completed") {
    root.replaceChildren(heading, intro, el("p", { class: "notice error", role: "alert" },
      `This backup is ${backup.status.replace("_", " ")}: only a completed backup can be restored.`));
    return;
  }
  const disks = backup.disks;
  let diskIndex = disks[0]?.disk_index ?? 0;
  const diskChoice = el("fieldset", { class: "disks-choice" }, el("legend", {}, "Disk"),
    disks.map((disk) => {
      const radio = el("input", { type: "radio", name: "disk", value: disk.disk_index, checked: disk.disk_index === diskIndex });
      radio.addEventListener("change", () => { diskIndex = disk.disk_index; });
      return el("label", {}, radio, ` Disk ${disk.disk_index} (${bytes(disk.size_gb * 2 ** 30)})`);
    }));
  if (disks.length < 2) diskChoice.hidden = true;

  const status = el("p", { class: "status", role: "status" });
  const browse = el("button", {}, "Browse & download files");
  const imageFormat = el("select", { "aria-label": "Image format" }, el("option", { value: "raw" }, "raw"), el("option", { value: "qcow2" }, "qcow2"),
    el("option", { value: "vmdk" }, "vmdk (VMware)"));
  const imageButton = el("button", { class: "secondary" }, "Download disk image");
  const targetPath = el("input", { name: "target", placeholder: "/var/lib/libvirt/images/restored.raw", required: true });
  const targetFormat = el("select", { "aria-label": "Restored file format" }, el("option", { value: "raw" }, "raw"), el("option", { value: "qcow2" }, "qcow2"),
    el("option", { value: "vmdk" }, "vmdk (VMware)"));
  const toPath = el("form", { class: "inline-form", "aria-label": "Restore to a path" },
    field("Restore the disk to a new file on the hub", targetPath, "The file must not exist yet; its folder must."), targetFormat,
    el("button", { type: "submit", class: "secondary" }, "Restore to path"));
  const restoreProgress = el("div");
  const area = el("div", { class: "browser-area" });

  browse.addEventListener("click", async () => {
    browse.disabled = true;
    status.textContent = "Mounting…";
    try {
      const mount = await api("/restore/mount", { method: "POST", body: { backup_id: backupId, disk_index: diskIndex } });
      const unusable = mount.partitions.filter((partition) => partition.reason);
      status.textContent = `Mounted disk ${diskIndex}: ${mount.filesystem_type}` +
        (unusable.length ? `. Not browsable: ${unusable.map((partition) => `${partition.name} (${partition.reason})`).join("; ")}` : ".");
      actions.hidden = true;
      fileBrowser(area, mount, signal, (reason) => {
        area.replaceChildren();
        actions.hidden = false;
        browse.disabled = false;
        if (reason !== "left") status.textContent = reason;
      });
    } catch (failure) {
      status.textContent = `Cannot browse this disk: ${failure.message}`;
      browse.disabled = false;
    }
  });
  imageButton.addEventListener("click", async () => {
    try {
      await download(`/backups/${encodeURIComponent(backupId)}/disks/${diskIndex}/image?format=${imageFormat.value}`);
      status.textContent = `Downloading disk ${diskIndex} as ${imageFormat.value}…`;
    } catch (failure) {
      status.textContent = `Download not started: ${failure.message}`;
    }
  });
  toPath.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const job = await api("/restore/disk", { method: "POST", body: {
        backup_id: backupId, disk_index: diskIndex, target: { type: "file", path: targetPath.value.trim(), format: targetFormat.value } } });
      followRestore(job, restoreProgress, signal);
    } catch (failure) {
      restoreProgress.replaceChildren(el("p", { class: "error", role: "alert" }, `Not started: ${failure.message}`));
    }
  });

  const actions = el("div", { class: "restore-actions" },
    wholeVM(backup, signal),
    diskChoice,
    el("div", { class: "card" }, el("h2", {}, "Files and folders"),
      el("p", { class: "muted" }, "Open the disk read-only and download single files, a selection or whole folders."), browse),
    el("div", { class: "card" }, el("h2", {}, "Whole disk"),
      el("p", { class: "toolbar" }, imageFormat, imageButton), toPath, restoreProgress));
  root.replaceChildren(heading, intro, status, actions, area);
}

/** Run the point's VM now (instant recovery) or restore it as a new libvirt
 *  domain with disks of its own. Points without a libvirt configuration are
 *  refused by the hub, in words shown here. */
function wholeVM(backup, signal) {
  const network = () => el("select", {},
    el("option", { value: "" }, "As the VM had them"), el("option", { value: "none" }, "No network (isolated)"));
  const chosenNetwork = (select, other) => other.value.trim() || select.value || null;

  const runName = el("input", { name: "recovery-name", placeholder: `${backup.vm_name}-recovered-…` });
  const runNetwork = network();
  const runOther = el("input", { name: "recovery-network", placeholder: "a libvirt network, e.g. default" });
  const runStatus = el("p", { role: "status" });
  const runButton = el("button", { type: "submit" }, "Start instant recovery");
  const run = el("form", { class: "wizard", "aria-label": "Instant recovery" },
    el("div", { class: "row" }, field("Domain name", runName, "Empty for a name of the hub's"), field("NICs", runNetwork),
      field("Or on libvirt network", runOther)),
    el("p", { class: "actions" }, runButton), runStatus);
  run.addEventListener("submit", async (event) => {
    event.preventDefault();
    runButton.disabled = true;
    runStatus.textContent = "Starting…";
    try {
      const session = await api("/recoveries", { method: "POST", body: {
        backup_id: backup.backup_id, name: runName.value.trim() || null, network: chosenNetwork(runNetwork, runOther) } });
      runStatus.replaceChildren(`Domain ${session.domain_name} runs from this backup. `,
        el("a", { href: "#recoveries" }, "Manage it on the Recoveries page"), ".");
    } catch (failure) {
      runStatus.textContent = `Not started: ${failure.message}`;
    } finally {
      runButton.disabled = false;
    }
  });

  const name = el("input", { name: "restore-vm-name", placeholder: `${backup.vm_name}-restored-…` });
  const folder = el("input", { name: "restore-vm-folder", placeholder: "/var/lib/libvirt/images" });
  const pool = el("input", { name: "restore-vm-pool", placeholder: "default" });
  const restoreNetwork = network();
  const restoreOther = el("input", { name: "restore-vm-network", placeholder: "a libvirt network, e.g. default" });
  const keepMacs = el("input", { type: "checkbox", name: "keep_macs" });
  const start = el("input", { type: "checkbox", name: "start" });
  const progress = el("div");
  const restoreButton = el("button", { type: "submit", class: "secondary" }, "Restore VM");
  const restore = el("form", { class: "wizard", "aria-label": "Restore the VM" },
    el("div", { class: "row" }, field("New domain name", name, "Empty for a name of the hub's"),
      field("NICs", restoreNetwork), field("Or on libvirt network", restoreOther)),
    el("div", { class: "row" }, field("Disks into folder", folder, "On the hub's host; each disk becomes <domain>-<disk>.qcow2"),
      field("Or into storage pool", pool, "A libvirt pool of files (dir, fs, netfs)")),
    el("div", { class: "row" }, el("label", { class: "choice" }, keepMacs, " Keep the MAC addresses"),
      el("label", { class: "choice" }, start, " Start it once defined")),
    el("p", { class: "actions" }, restoreButton), progress);
  restore.addEventListener("submit", async (event) => {
    event.preventDefault();
    const target = { type: "libvirt" };
    if (folder.value.trim()) target.directory = folder.value.trim();
    if (pool.value.trim()) target.pool = pool.value.trim();
    try {
      const job = await api("/restore/vm", { method: "POST", body: {
        backup_id: backup.backup_id, target, name: name.value.trim() || null, network: chosenNetwork(restoreNetwork, restoreOther),
        keep_macs: keepMacs.checked, start: start.checked } });
      followRestore(job, progress, signal, `/restore/vm/${encodeURIComponent(job.job_id)}`,
        (state) => `Domain ${state.domain_name} ${state.start ? "defined and started" : "defined"}: ${state.disks.map((disk) => disk.path).join(", ")}.`);
    } catch (failure) {
      progress.replaceChildren(el("p", { class: "error", role: "alert" }, `Not started: ${failure.message}`));
    }
  });

  return el("div", { class: "card" }, el("h2", {}, "Whole VM"),
    el("p", { class: "muted" }, "For restore points of libvirt domains: run the VM now, straight from the backup, or restore it as a new domain with disks of its own. "
      + "For restore points of VMware VMs: restore it as a new VM in vCenter."),
    el("h3", {}, "Instant recovery"), run, el("h3", {}, "Restore as a new domain"), restore,
    el("h3", {}, "Restore into vCenter"), intoVCenter(backup, signal),
    el("h3", {}, "Boot check"), bootCheck(backup, signal));
}

/** A VMware point as a new VM in vCenter: its kept hardware, its disks uploaded from the backup. */
function intoVCenter(backup, signal) {
  const credential = el("select", { name: "vcenter-credential", "aria-label": "vCenter" });
  api("/vmware-credentials").then((list) => {
    credential.replaceChildren(...list.credentials.map((entry) => el("option", { value: entry.id }, `${entry.name} (${entry.vcenter_host})`)));
    if (!list.credentials.length) credential.append(el("option", { value: "" }, "No vCenter credential yet"));
  }).catch((failure) => credential.replaceChildren(el("option", { value: "" }, failure.message)));
  const datastore = el("input", { name: "vcenter-datastore", placeholder: "datastore1", required: true });
  const host = el("input", { name: "vcenter-host", placeholder: "Any host that sees the datastore" });
  const name = el("input", { name: "vcenter-vm-name", placeholder: `${backup.vm_name}-restored-…` });
  const network = el("input", { name: "vcenter-network", placeholder: "As the VM had them; none for no NIC" });
  const keepMacs = el("input", { type: "checkbox", name: "vcenter-keep-macs" });
  const powerOn = el("input", { type: "checkbox", name: "vcenter-power-on" });
  const progress = el("div");
  const button = el("button", { type: "submit", class: "secondary" }, "Restore into vCenter");
  const form = el("form", { class: "wizard", "aria-label": "Restore into vCenter" },
    el("div", { class: "row" }, field("vCenter", credential), field("Datastore", datastore), field("Host", host, "Empty: the hub picks one")),
    el("div", { class: "row" }, field("New VM name", name, "Empty for a name of the hub's"), field("NICs on network", network)),
    el("div", { class: "row" }, el("label", { class: "choice" }, keepMacs, " Keep the MAC addresses"),
      el("label", { class: "choice" }, powerOn, " Power it on once made")),
    el("p", { class: "actions" }, button), progress);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const job = await api("/restore/vm", { method: "POST", body: {
        backup_id: backup.backup_id, name: name.value.trim() || null, network: network.value.trim() || null,
        keep_macs: keepMacs.checked, start: powerOn.checked,
        target: { type: "vcenter", credential_id: Number(credential.value), datastore: datastore.value.trim(), host: host.value.trim() || null } } });
      followRestore(job, progress, signal, `/restore/vm/${encodeURIComponent(job.job_id)}`,
        (state) => `VM ${state.domain_name} made in vCenter on ${state.vcenter.host}, datastore ${state.vcenter.datastore}${state.start ? ", powered on" : ""}.`);
    } catch (failure) {
      progress.replaceChildren(el("p", { class: "error", role: "alert" }, `Not started: ${failure.message}`));
    }
  });
  return form;
}

/** Boot the point in a sandbox until its guest agent answers; the newest verdict with its screenshot. */
function bootCheck(backup, signal) {
  const verdict = el("div", { role: "status" });
  const button = el("button", { class: "secondary" }, "Boot-check this point");
  const show = async (check) => {
    const words = check.status === "running" ? "Booting in a sandbox…" :
      `${{ passed: "Passed", failed: "Failed", error: "Could not judge" }[check.status]}: ${check.reason ?? ""}` +
      (check.heartbeat_seconds ? ` (heartbeat after ${check.heartbeat_seconds.toFixed(1)} s)` : "") + `, ${dateTime(check.created_at)}.`;
    const image = check.screenshot_url ?
      el("img", { class: "screenshot", alt: `The guest's screen at the end of boot check ${check.check_id}`,
        src: await imageURL(check.screenshot_url.replace(/^\/api\/v1/, "")).catch(() => "") }) : null;
    verdict.replaceChildren(el("p", {}, check.status === "running" ? "" : bootBadge(check.status), " ", words), image ?? "");
  };
  const follow = (id) => {
    const timer = setInterval(async () => {
      try {
        const check = await api(`/boot-checks/${encodeURIComponent(id)}`);
        if (check.status !== "running") { clearInterval(timer); button.disabled = false; await show(check); }
      } catch (failure) {
        verdict.textContent = `${failure.message} (retrying)`;
      }
    }, 2000);
    signal.addEventListener("abort", () => clearInterval(timer));
  };
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const check = await api(`/backups/${encodeURIComponent(backup.backup_id)}/boot-check`, { method: "POST" });
      await show(check);
      follow(check.check_id);
    } catch (failure) {
      verdict.textContent = `Not started: ${failure.message}`;
      button.disabled = false;
    }
  });
  api(`/backups/${encodeURIComponent(backup.backup_id)}/boot-checks`).then(async (list) => {
    const newest = list.boot_checks[0];
    if (!newest) return;
    await show(newest);
    if (newest.status === "running") { button.disabled = true; follow(newest.check_id); }
  }).catch(() => {});
  return el("div", {}, el("p", { class: "muted" }, "Starts the VM with no network until its guest agent answers, captures its screen, then discards it."),
    el("p", { class: "actions" }, button), verdict);
}

/** A restore job, polled until it ends: a disk's, or with `route` and `done`, a VM's. */
function followRestore(job, box, signal, route = `/restore/disk/${encodeURIComponent(job.job_id)}`,
  done = (state) => `Restored ${bytes(state.total_bytes)}.`) {
  const bar = el("progress", { max: 100, value: job.progress_percent, "aria-label": "Restore progress" });
  const words = el("span", { role: "status" });
  box.replaceChildren(el("p", {}, bar, " ", words));
  const show = (state) => {
    bar.value = state.progress_percent;
    words.textContent = state.status === "completed" ? done(state) :
      state.status === "failed" || state.status === "cancelled" ? `${state.status === "failed" ? "Failed" : "Cancelled"}: ${state.error_message}` :
        `${bytes(state.bytes_done)} of ${bytes(state.total_bytes)}`;
  };
  show(job);
  const timer = setInterval(async () => {
    try {
      const state = await api(route);
      show(state);
      if (state.status !== "in_progress") clearInterval(timer);
    } catch (failure) {
      words.textContent = `${failure.message} (retrying)`;
    }
  }, 1000);
  signal.addEventListener("abort", () => clearInterval(timer));
}
