// Jobs: every backup, restore and maintenance job, newest first, with live
// progress for running backups, Cancel, and "Clean up now".
import { api } from "/api.js";
import { subscribe } from "/events.js";
import { el, badge, dateTime, duration } from "/dom.js";

export async function jobsPage(root, _args, signal) {
  root.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  const typeFilter = el("select", { "aria-label": "Job type" },
    ["", "backup", "restore", "verify", "prune", "merge", "cleanup", "recovery"].map((type) => el("option", { value: type }, type || "All types")));
  const statusFilter = el("select", { "aria-label": "Job status" },
    ["", "running", "completed", "failed", "cancelled"].map((status) => el("option", { value: status }, status || "Any status")));
  const cleanup = el("button", { class: "secondary" }, "Clean up now");
  const status = el("p", { class: "status", role: "status" });
  const body = el("tbody");
  const bars = new Map();

  async function load() {
    const query = new URLSearchParams({ limit: 200 });
    if (typeFilter.value) query.set("type", typeFilter.value);
    if (statusFilter.value) query.set("status", statusFilter.value);
    const answer = await api(`/jobs?${query}`);
    bars.clear();
    body.replaceChildren(...answer.jobs.map(row));
    if (answer.count === 0) body.replaceChildren(el("tr", {}, el("td", { colspan: 7, class: "muted" }, "No jobs match.")));
  }

  function row(job) {
    const bar = el("progress", { max: 100, value: job.progress_percent, "aria-label": `${job.job_id} progress` });
    const percent = el("span", {}, `${Math.floor(job.progress_percent)}%`);
    if (job.status === "running") bars.set(job.job_id, [bar, percent]);
    const actions = el("td", { class: "row-actions" });
    if (job.type === "backup") actions.append(el("a", { href: `#progress/${encodeURIComponent(job.job_id)}` }, "Details"));
    if (job.type === "recovery") actions.append(el("a", { href: "#recoveries" }, "Details"));
    if (job.status === "running" && job.type !== "cleanup") {
      const cancel = el("button", { class: "link danger-text" }, "Cancel");
      cancel.addEventListener("click", async () => {
        cancel.disabled = true;
        try {
          await api(`/jobs/${encodeURIComponent(job.job_id)}/cancel`, { method: "POST" });
          status.textContent = `Cancelling ${job.job_id}…`;
        } catch (failure) {
          status.textContent = `Not cancelled: ${failure.message}`;
          cancel.disabled = false;
        }
      });
      actions.append(cancel);
    }
    const took = job.completed_at ? duration((Date.parse(job.completed_at) - Date.parse(job.created_at)) / 1000) : "";
    return el("tr", {},
      el("td", {}, dateTime(job.created_at)), el("td", {}, job.type), el("th", { scope: "row" }, job.vm_name ?? job.detail ?? job.job_id),
      el("td", {}, badge(job.status), job.error_message ? el("div", { class: "error small" }, job.error_message) : null),
      el("td", { class: "bar" }, bar, " ", percent), el("td", {}, took), actions);
  }

  cleanup.addEventListener("click", async () => {
    cleanup.disabled = true;
    try {
      const report = await api("/maintenance/cleanup", { method: "POST" });
      const done = Object.entries(report).filter(([, value]) => Array.isArray(value) ? value.length : value)
        .map(([key, value]) => `${key.replace(/_/g, " ")}: ${Array.isArray(value) ? value.length : value}`);
      status.textContent = done.length ? `Cleaned up — ${done.join(", ")}.` : "Nothing needed cleaning.";
      await load();
    } catch (failure) {
      status.textContent = `Cleanup failed: ${failure.message}`;
    } finally {
      cleanup.disabled = false;
    }
  });
  for (const select of [typeFilter, statusFilter]) select.addEventListener("change", () => load().catch((failure) => { status.textContent = failure.message; }));

  root.replaceChildren(el("h1", {}, "Jobs"), el("div", { class: "toolbar" }, typeFilter, statusFilter, cleanup), status,
    el("div", { class: "table" }, el("table", {},
      el("thead", {}, el("tr", {}, ["Started", "Type", "What", "Status", "Progress", "Took", "Actions"].map((label) => el("th", { scope: "col" }, label)))),
      body)));
  await load();
  const unsubscribe = subscribe((name, data) => {
    if (name === "job_progress" && bars.has(data.job_id)) {
      const [bar, percent] = bars.get(data.job_id);
      bar.value = data.progress_percent;
      percent.textContent = `${Math.floor(data.progress_percent)}%`;
    } else if (name === "job_created" || name === "job_completed" || name === "job_failed" || name === "job_cancelled") {
      load().catch(() => {});
    }
  });
  signal.addEventListener("abort", unsubscribe);
}
