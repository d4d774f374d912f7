// Dashboard: running jobs, the last 24 hours, repository capacity, protection.
import { api } from "/api.js";
import { el, bytes } from "/dom.js";

export async function dashboard(root) {
  root.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  const [jobs, repositories, vms] = await Promise.all([api("/jobs?limit=500"), api("/repositories"), api("/vm-contexts")]);
  const dayAgo = Date.now() - 86_400_000;
  const recent = jobs.jobs.filter((job) => job.type === "backup" && Date.parse(job.created_at) >= dayAgo);
  const running = jobs.jobs.filter((job) => job.status === "running");
  const succeeded = recent.filter((job) => job.status === "completed").length;
  const failed = recent.filter((job) => job.status === "failed").length;
  const protectedCount = vms.vm_contexts.filter((vm) => vm.last_backup_at).length;

  root.replaceChildren(
    el("h1", {}, "Dashboard"),
    el("div", { class: "tiles" },
      tile("Running jobs", running.length),
      tile("Backups in the last 24 h", `${succeeded} succeeded, ${failed} failed`),
      tile("Protected VMs", `${protectedCount} of ${vms.count}`)),
    el("h2", {}, "Running jobs"),
    running.length === 0 ? el("p", { class: "muted" }, "No job is running.") :
      el("ul", { class: "jobs" }, running.map((job) =>
        el("li", {}, `${job.type} ${job.vm_name ?? ""} `,
          el("progress", { max: 100, value: job.progress_percent, "aria-label": `${job.job_id} progress` }),
          ` ${Math.round(job.progress_percent)}%`))),
    el("h2", {}, "Repositories"),
    el("ul", { class: "repositories" }, repositories.repositories.map((repository) => {
      const used = repository.total_bytes ? Math.round(repository.used_bytes * 100 / repository.total_bytes) : 0;
      return el("li", {},
        el("span", { class: "name" }, repository.name),
        el("meter", { min: 0, max: 100, value: used, high: 85, "aria-label": `${repository.name} used` }),
        el("span", { class: "muted" }, `${bytes(repository.used_bytes)} of ${bytes(repository.total_bytes)} used, ${repository.backup_count} backups, ${repository.status}`));
    })));
}

function tile(label, value) {
  return el("div", { class: "tile" }, el("span", { class: "muted" }, label), el("strong", {}, value));
}
