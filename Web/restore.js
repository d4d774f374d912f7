// Restore: pick a restore point (or reopen a mounted one), pick a disk, then
// browse and download files, download the whole disk image, or write it to
// a path on the hub.
import { api, download } from "/api.js";
import { el, bytes, badge, dateTime, field } from "/dom.js";
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
  const imageFormat = el("select", { "aria-label": "Image format" }, el("option", { value: "raw" }, "raw"), el("option", { value: "qcow2" }, "qcow2"));
  const imageButton = el("button", { class: "secondary" }, "Download disk image");
  const targetPath = el("input", { name: "target", placeholder: "/var/lib/libvirt/images/restored.raw", required: true });
  const targetFormat = el("select", { "aria-label": "Restored file format" }, el("option", { value: "raw" }, "raw"), el("option", { value: "qcow2" }, "qcow2"));
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
    diskChoice,
    el("div", { class: "card" }, el("h2", {}, "Files and folders"),
      el("p", { class: "muted" }, "Open the disk read-only and download single files, a selection or whole folders."), browse),
    el("div", { class: "card" }, el("h2", {}, "Whole disk"),
      el("p", { class: "toolbar" }, imageFormat, imageButton), toPath, restoreProgress));
  root.replaceChildren(heading, intro, status, actions, area);
}

/** A disk restore to a path, polled until it ends. */
function followRestore(job, box, signal) {
  const bar = el("progress", { max: 100, value: job.progress_percent, "aria-label": "Restore progress" });
  const words = el("span", { role: "status" });
  box.replaceChildren(el("p", {}, bar, " ", words));
  const show = (state) => {
    bar.value = state.progress_percent;
    words.textContent = state.status === "completed" ? `Restored ${bytes(state.total_bytes)}.` :
      state.status === "failed" ? `Failed: ${state.error_message}` : `${bytes(state.bytes_done)} of ${bytes(state.total_bytes)}`;
  };
  show(job);
  const timer = setInterval(async () => {
    try {
      const state = await api(`/restore/disk/${encodeURIComponent(job.job_id)}`);
      show(state);
      if (state.status === "completed" || state.status === "failed") clearInterval(timer);
    } catch (failure) {
      words.textContent = `${failure.message} (retrying)`;
    }
  }, 1000);
  signal.addEventListener("abort", () => clearInterval(timer));
}
