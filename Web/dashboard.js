// Dashboard: running jobs with live progress, the last 24 hours, protected
// VMs, repository capacity.
import { api } from "/api.js";
import { subscribe } from "/events.js";
import { el, bytes, tile, duration } from "/dom.js";

export async function dashboard(root, _args, signal) {
  root.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  const [jobs, repositories, vms] = await Promise.all([api("/jobs?limit=500"), api("/repositories"), api("/vm-contexts")]);
  const dayAgo = Date.now() - 86_400_000;
  const recent = jobs.jobs.filter((job) => job.type === "backup" && Date.parse(job.created_at) >= dayAgo);
  const running = jobs.jobs.filter((job) => job.status === "running");
  const succeeded = recent.filter((job) => job.status === "completed").length;
  const failed = recent.filter((job) => job.status === "failed").length;
  const protectedCount = vms.vm_contexts.filter((vm) => vm.last_backup_at).length;
  const live = new Map();

  root.replaceChildren(
    el("h1", {}, "Dashboard"),
    el("div", { class: "tiles" },
      tile("Running jobs", running.length),
      tile("Backups in the last 24 h", `${succeeded} succeeded, ${failed} failed`),
      tile("Protected VMs", `${protectedCount} of ${vms.count}`),
      tile("Unprotected VMs", vms.count - protectedCount)),
    el("h2", {}, "Running jobs"),
    running.length === 0 ? el("p", { class: "muted" }, "No job is running.") :
      el("ul", { class: "jobs" }, running.map((job) => {
        const bar = el("progress", { max: 100, value: job.progress_percent, "aria-label": `${job.job_id} progress` });
        const words = el("span", { class: "muted" }, ` ${Math.floor(job.progress_percent)}%`);
        live.set(job.job_id, [bar, words]);
        return el("li", {}, job.type === "backup" ? el("a", { href: `#progress/${encodeURIComponent(job.job_id)}` }, `${job.type} of ${job.vm_name}`)
          : `${job.type} ${job.vm_name ?? job.detail ?? ""}`, bar, words);
      })),
    el("h2", {}, "Repositories"),
    el("ul", { class: "repositories" }, repositories.repositories.map((repository) => {
      const used = repository.total_bytes ? Math.round(repository.used_bytes * 100 / repository.total_bytes) : 0;
      return el("li", {},
        el("span", { class: "name" }, repository.name),
        el("meter", { min: 0, max: 100, value: used, high: 85, "aria-label": `${repository.name} used` }),
        el("span", { class: "muted" }, `${bytes(repository.used_bytes)} of ${bytes(repository.total_bytes)} used, ${repository.backup_count} backups, ${repository.status}`));
    })));

  const unsubscribe = subscribe((name, data) => {
    if (name === "job_progress" && live.has(data.job_id)) {
      const [bar, words] = live.get(data.job_id);
      bar.value = data.progress_percent;
      words.textContent = ` ${Math.floor(data.progress_percent)}%` + (data.transfer_speed_bps ? ` · ${bytes(data.transfer_speed_bps)}/s` : "") +
        (data.eta_seconds != null ? ` · ${duration(data.eta_seconds)} left` : "");
    } else if (["job_created", "job_completed", "job_failed", "job_cancelled"].includes(name)) {
      // A job came or went: redraw, at most once a second.
      if (!signal.aborted) { unsubscribe(); setTimeout(() => { if (!signal.aborted) dashboard(root, _args, signal).catch(() => {}); }, 1000); }
    }
  });
  signal.addEventListener("abort", unsubscribe);
}
