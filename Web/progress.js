// One backup's progress: overall and per-disk bars, bytes, speed, ETA, phase,
// Cancel. Live from the event stream; every 3 s from GET /backups/{id} while
// the stream is down, and once more when the job ends for its final figures.
import { api } from "/api.js";
import { subscribe } from "/events.js";
import { el, bytes, duration, badge } from "/dom.js";

const FINAL = new Set(["completed", "failed", "cancelled"]);

export async function progressPage(root, [id], signal) {
  if (!id) { location.hash = "#jobs"; return; }
  root.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  let state = await api(`/backups/${encodeURIComponent(id)}`);

  const title = el("h1", {}, `Backup of ${state.vm_name}`);
  const overall = el("progress", { max: 100, value: 0, "aria-label": "Overall progress" });
  const percent = el("strong", { class: "percent" });
  const amount = el("span");
  const speed = el("span");
  const eta = el("span");
  const phase = el("span");
  const liveness = el("span", { class: "muted" });
  const disks = el("ul", { class: "disks" });
  const outcome = el("p", { role: "status", class: "status" });
  const cancel = el("button", { class: "danger" }, "Cancel backup");
  const links = el("p", { class: "actions" },
    el("a", { href: `#backups/${encodeURIComponent(state.vm_name)}` }, `All backups of ${state.vm_name}`),
    el("a", { href: `#vm/${encodeURIComponent(state.vm_name)}/performance/${encodeURIComponent(id)}` }, "Performance"));

  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      await api(`/backups/${encodeURIComponent(id)}/cancel`, { method: "POST" });
      outcome.textContent = "Cancelling…";
    } catch (failure) {
      outcome.textContent = `Not cancelled: ${failure.message}`;
      cancel.disabled = false;
    }
  });

  function show(figures) {
    overall.value = figures.progress_percent ?? 0;
    percent.textContent = `${Math.floor(figures.progress_percent ?? 0)}%`;
    amount.textContent = `${bytes(figures.bytes_transferred)} of ${bytes(figures.total_bytes)}`;
    speed.textContent = figures.transfer_speed_bps ? `${bytes(figures.transfer_speed_bps)}/s` : "–";
    eta.textContent = FINAL.has(state.status) ? "–" : figures.eta_seconds != null ? duration(figures.eta_seconds) + " left" : "estimating";
    phase.textContent = figures.current_phase ?? figures.phase ?? state.status;
    disks.replaceChildren(...(figures.disks ?? []).map((disk) => {
      const total = disk.total_bytes ?? (disk.size_gb ? disk.size_gb * 2 ** 30 : 0);
      return el("li", {},
        el("span", {}, `Disk ${disk.disk_index}`),
        el("progress", { max: 100, value: disk.progress_percent ?? 0, "aria-label": `Disk ${disk.disk_index} progress` }),
        el("span", { class: "muted" }, `${Math.floor(disk.progress_percent ?? 0)}% · ${disk.bytes_transferred != null ? bytes(disk.bytes_transferred) + (disk.total_bytes ? " of " + bytes(total) : "") : ""} · ${disk.status.replace("_", " ")}`));
    }));
  }

  function finish() {
    cancel.hidden = true;
    title.replaceChildren(`Backup of ${state.vm_name} `, badge(state.status));
    if (state.status === "completed") {
      const took = state.completed_at ? (Date.parse(state.completed_at) - Date.parse(state.created_at)) / 1000 : null;
      outcome.textContent = `Completed${took != null ? " in " + duration(took) : ""}: ${bytes(state.bytes_transferred)} copied.`;
    } else if (state.status === "cancelled") {
      outcome.textContent = "Cancelled: nothing of this backup was kept.";
    } else {
      outcome.textContent = `Failed: ${state.error_message ?? "no reason given"}`;
    }
  }

  async function refresh() {
    try {
      state = await api(`/backups/${encodeURIComponent(id)}`);
      show(state);
      if (FINAL.has(state.status)) finish();
    } catch (failure) {
      outcome.textContent = `${failure.message} (retrying)`;
    }
  }

  root.replaceChildren(title,
    el("p", { class: "muted" }, badge(state.backup_type), ` ${id}`, state.note ? ` · ${state.note}` : ""),
    el("div", { class: "card progress-card" },
      el("div", { class: "overall" }, overall, percent),
      el("dl", { class: "figures" },
        el("dt", {}, "Copied"), el("dd", {}, amount),
        el("dt", {}, "Speed"), el("dd", {}, speed),
        el("dt", {}, "Time left"), el("dd", {}, eta),
        el("dt", {}, "Phase"), el("dd", {}, phase)),
      disks, liveness),
    outcome, el("p", {}, cancel), links);
  show(state);
  if (FINAL.has(state.status)) { finish(); return; }

  let timer = null;
  const poll = () => { timer = setTimeout(async () => { await refresh(); if (!FINAL.has(state.status) && !signal.aborted) poll(); }, 3000); };
  const unsubscribe = subscribe((name, data) => {
    if (name === "live") {
      liveness.textContent = data ? "Live" : "Live updates unavailable: refreshing every 3 s";
      clearTimeout(timer);
      if (!data && !FINAL.has(state.status)) poll();
      return;
    }
    if (data.job_id !== id) return;
    if (name === "job_progress") {
      state.status = "in_progress";
      show({ ...data, current_phase: data.phase });
    } else if (name === "job_completed" || name === "job_failed" || name === "job_cancelled") {
      refresh();
    }
  });
  signal.addEventListener("abort", () => { unsubscribe(); clearTimeout(timer); });
  // The job may have ended between the first answer and the subscription.
  refresh();
}
