// Machine details, a modal over the VM list (#vm/NAME[/TAB[/JOB]]): Summary
// (VM facts, tiles, history), Performance (one job's transfer-speed chart,
// live while it runs), Analytics (success / failure, size and duration trends).
import { api } from "/api.js";
import { subscribe } from "/events.js";
import { el, bytes, duration, badge, consistencyBadge, dateTime, openDialog, loadChart, noChartsNotice, tile } from "/dom.js";
import { vms } from "/vms.js";

const TABS = [["summary", "Summary"], ["performance", "Performance"], ["analytics", "Analytics"]];

export async function machinePage(root, [name, tab = "summary", jobId], signal) {
  await vms(root, [], signal);
  const contexts = await api("/vm-contexts");
  const vm = contexts.vm_contexts.find((item) => item.vm_name === name);
  if (!vm) {
    root.prepend(el("p", { class: "notice error", role: "alert" }, `VM not found: ${name}.`));
    return;
  }
  const panel = el("div", { role: "tabpanel", class: "tabpanel", tabindex: "0" });
  const charts = [];
  let stopLive = () => {};
  const buttons = TABS.map(([key, label]) => {
    const button = el("button", { role: "tab", id: `tab-${key}`, "aria-controls": "machine-panel", class: "tab" }, label);
    button.addEventListener("click", () => show(key));
    button.addEventListener("keydown", (event) => {
      const step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
      if (!step) return;
      const next = TABS[(TABS.findIndex(([k]) => k === key) + step + TABS.length) % TABS.length][0];
      show(next);
      document.getElementById(`tab-${next}`).focus();
    });
    return button;
  });
  panel.id = "machine-panel";
  const dialog = openDialog(vm.vm_name, el("div", { role: "tablist", "aria-label": "Machine details" }, buttons), panel);
  dialog.classList.add("wide");
  dialog.addEventListener("close", () => {
    stopLive();
    for (const chart of charts) chart.destroy();
    if (!signal.aborted) history.replaceState(null, "", "#vms");
  });
  signal.addEventListener("abort", () => dialog.close());

  async function show(key, job) {
    stopLive();
    stopLive = () => {};
    for (const chart of charts.splice(0)) chart.destroy();
    for (const button of buttons) button.setAttribute("aria-selected", String(button.id === `tab-${key}`));
    panel.setAttribute("aria-labelledby", `tab-${key}`);
    history.replaceState(null, "", `#vm/${encodeURIComponent(vm.vm_name)}/${key}${job ? "/" + encodeURIComponent(job) : ""}`);
    panel.replaceChildren(el("p", { class: "muted" }, "Loading…"));
    try {
      if (key === "performance") await performance(job);
      else if (key === "analytics") await analytics();
      else await summary();
    } catch (failure) {
      const retry = el("button", {}, "Retry");
      retry.addEventListener("click", () => show(key, job));
      panel.replaceChildren(el("p", { class: "error", role: "alert" }, failure.message), retry);
    }
  }

  async function summary() {
    const [stats, list, disks] = await Promise.all([
      api(`/telemetry/summary?vm_name=${encodeURIComponent(vm.vm_name)}`),
      api(`/backups?${new URLSearchParams({ vm_name: vm.vm_name, limit: 20 })}`),
      api(`/vm-contexts/${encodeURIComponent(vm.vm_name)}/disks`)]);
    const facts = [["Power", vm.power_state], ["CPUs", vm.cpu_count], ["Memory", vm.memory_mb ? `${vm.memory_mb} MB` : null],
      ["Guest OS", vm.os_type], ["vCenter", vm.vcenter_host], ["Datacenter", vm.datacenter], ["Status", vm.current_status],
      ["Disks", disks.disks.map((disk) => `${disk.label ?? "disk " + disk.disk_index} ${bytes(disk.capacity_bytes)}`).join(", ")]];
    panel.replaceChildren(
      el("dl", { class: "facts" }, facts.filter(([, value]) => value != null && value !== "").flatMap(([label, value]) => [el("dt", {}, label), el("dd", {}, value)])),
      el("div", { class: "tiles" },
        tile("Total backups", stats.total_backups), tile("Success rate", `${Math.round(stats.success_rate ?? 0)}%`),
        tile("Average size", bytes(stats.avg_size_bytes)), tile("Average duration", duration(stats.avg_duration_seconds))),
      el("h3", {}, "Recent backups"),
      list.total_count === 0 ? el("p", { class: "muted" }, "No backups yet.") :
        el("div", { class: "table" }, el("table", {},
          el("thead", {}, el("tr", {}, ["Date", "Type", "Consistency", "Size", "Duration", "Status"].map((label) => el("th", { scope: "col" }, label)))),
          el("tbody", {}, list.backups.map((backup) => {
            const link = el("button", { class: "link" }, dateTime(backup.created_at));
            link.addEventListener("click", () => show("performance", backup.backup_id));
            return el("tr", {}, el("td", {}, link), el("td", {}, badge(backup.backup_type)), el("td", {}, consistencyBadge(backup.consistency)),
              el("td", {}, bytes(backup.total_size_gb * 2 ** 30)),
              el("td", {}, backup.duration_seconds != null ? duration(backup.duration_seconds) : "–"), el("td", {}, badge(backup.status)));
          })))),
      el("p", {}, el("a", { href: `#backups/${encodeURIComponent(vm.vm_name)}` }, "All backups and the chain")));
  }

  async function performance(job) {
    const list = await api(`/backups?${new URLSearchParams({ vm_name: vm.vm_name, limit: 100 })}`);
    if (list.total_count === 0) { panel.replaceChildren(el("p", { class: "muted" }, "No backups yet: nothing to chart.")); return; }
    const chosen = job && list.backups.some((backup) => backup.backup_id === job) ? job : list.backups[0].backup_id;
    const picker = el("select", { "aria-label": "Job" }, list.backups.map((backup) =>
      el("option", { value: backup.backup_id, selected: backup.backup_id === chosen }, `${dateTime(backup.created_at)} · ${backup.backup_type} · ${backup.status}`)));
    picker.addEventListener("change", () => show("performance", picker.value));
    const figures = el("div", { class: "tiles" });
    const canvasBox = el("div", { class: "chart" });
    panel.replaceChildren(el("p", {}, picker), figures, canvasBox);
    const Chart = await loadChart();
    let chart = null;

    const draw = async () => {
      const data = await api(`/telemetry/history/${encodeURIComponent(chosen)}`);
      figures.replaceChildren(tile("Peak speed", `${bytes(data.peak_speed_bps)}/s`), tile("Average speed", `${bytes(data.avg_speed_bps)}/s`),
        tile("Duration", duration(data.duration_seconds)), tile("Copied", bytes(data.total_bytes)));
      const points = (data.chart_data ?? []).map((point) => ({ x: point.t, y: point.speed_bps / 2 ** 20 }));
      if (!Chart) { canvasBox.replaceChildren(el("p", { class: "notice" }, noChartsNotice)); return data; }
      if (points.length === 0) { canvasBox.replaceChildren(el("p", { class: "muted" }, "No speed samples were recorded for this job.")); return data; }
      if (!chart) {
        const canvas = el("canvas", { role: "img", "aria-label": `Transfer speed of ${chosen}`, "data-points": points.length });
        canvasBox.replaceChildren(canvas);
        chart = new Chart(canvas, {
          type: "line",
          data: { datasets: [{ label: "MiB/s", data: points, borderColor: "#1f5fbf", backgroundColor: "rgba(31,95,191,0.15)", fill: true, pointRadius: 0, tension: 0.25 }] },
          options: { animation: false, maintainAspectRatio: false, parsing: false,
            scales: { x: { type: "linear", title: { display: true, text: "seconds" } }, y: { beginAtZero: true, title: { display: true, text: "MiB/s" } } },
            plugins: { legend: { display: false } } },
        });
        charts.push(chart);
      } else {
        chart.data.datasets[0].data = points;
        chart.update("none");
        chart.canvas.dataset.points = points.length;
      }
      return data;
    };
    const data = await draw();
    if (data.status === "running") {
      // Live: redraw from the samples so far every 3 s and when the job ends.
      const timer = setInterval(() => draw().catch(() => {}), 3000);
      const unsubscribe = subscribe((name, event) => {
        if (event?.job_id === chosen && name !== "job_progress" && name !== "live") draw().catch(() => {});
      });
      stopLive = () => { clearInterval(timer); unsubscribe(); };
    }
  }

  async function analytics() {
    const [stats, list] = await Promise.all([
      api(`/telemetry/summary?vm_name=${encodeURIComponent(vm.vm_name)}`),
      api(`/backups?${new URLSearchParams({ vm_name: vm.vm_name, limit: 30 })}`)]);
    const Chart = await loadChart();
    if (stats.total_backups === 0) { panel.replaceChildren(el("p", { class: "muted" }, "No backups yet: nothing to analyse.")); return; }
    const donutBox = el("div", { class: "chart small" });
    const trendBox = el("div", { class: "chart" });
    panel.replaceChildren(el("div", { class: "tiles" }, tile("Successful", stats.successful), tile("Failed", stats.failed),
      tile("Success rate", `${Math.round(stats.success_rate ?? 0)}%`)), el("div", { class: "charts" }, donutBox, trendBox));
    if (!Chart) { donutBox.replaceChildren(el("p", { class: "notice" }, noChartsNotice)); return; }
    const donut = el("canvas", { role: "img", "aria-label": `${stats.successful} successful, ${stats.failed} failed` });
    donutBox.append(donut);
    charts.push(new Chart(donut, { type: "doughnut",
      data: { labels: ["Successful", "Failed"], datasets: [{ data: [stats.successful, stats.failed], backgroundColor: ["#2e7d32", "#b3261e"] }] },
      options: { animation: false, maintainAspectRatio: false } }));
    const done = list.backups.filter((backup) => backup.status === "completed").reverse();
    const trend = el("canvas", { role: "img", "aria-label": "Size and duration of recent backups" });
    trendBox.append(trend);
    charts.push(new Chart(trend, { type: "bar",
      data: { labels: done.map((backup) => new Date(backup.created_at).toLocaleDateString()),
        datasets: [
          { label: "Size (MiB)", data: done.map((backup) => Math.round(backup.total_size_gb * 1024)), backgroundColor: "#1f5fbf", yAxisID: "size" },
          { label: "Duration (s)", data: done.map((backup) => backup.duration_seconds ?? 0), type: "line", borderColor: "#e07b00", yAxisID: "time" }] },
      options: { animation: false, maintainAspectRatio: false,
        scales: { size: { position: "left", beginAtZero: true }, time: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false } } } } }));
  }

  show(TABS.some(([key]) => key === tab) ? tab : "summary", jobId);
}
