// The Explorer-style browser of a mounted backup disk: breadcrumbs, Up / Root
// / Refresh / Close, sortable name / size / modified columns, a filter box,
// multi-select with "Download selected" (zip), "Download folder" (zip or
// tar.gz). It keeps the mount alive while it is open, counts down to expiry
// (warning in the last 5 minutes), and unmounts when closed or left.
import { api, download, probe, session, APIError } from "/api.js";
import { subscribe } from "/events.js";
import { el, bytes, dateTime, confirmAction, sortHeaders } from "/dom.js";

const KEEPALIVE_MS = 4 * 60_000;
const PAGE = 1000;

/** Shows `mount` in `root`; `onClosed(reason)` runs after Close or expiry. */
export function fileBrowser(root, mount, signal, onClosed) {
  const base = `/restore/${encodeURIComponent(mount.mount_id)}`;
  let path = "/", entries = [], total = 0, closed = false;
  let expiresAt = Date.parse(mount.expires_at);

  const crumbs = el("nav", { class: "crumbs", "aria-label": "Folder path" });
  const filter = el("input", { type: "search", placeholder: "Filter this folder", "aria-label": "Filter this folder" });
  const up = el("button", { class: "secondary" }, "Up");
  const home = el("button", { class: "secondary" }, "Root");
  const refresh = el("button", { class: "secondary" }, "Refresh");
  const close = el("button", { class: "secondary" }, "Close");
  const selectedButton = el("button", { disabled: true }, "Download selected (zip)");
  const format = el("select", { "aria-label": "Folder archive format" }, el("option", { value: "zip" }, "zip"), el("option", { value: "tar.gz" }, "tar.gz"));
  const folderButton = el("button", {}, "Download folder");
  const expiry = el("p", { class: "expiry muted", role: "timer" });
  const status = el("p", { class: "status", role: "status" });
  const all = el("input", { type: "checkbox", "aria-label": "Select all" });
  const body = el("tbody");
  const more = el("button", { class: "secondary", hidden: true }, "Show more");
  const selected = new Set();

  const [sortCells, order] = sortHeaders([["name", "Name"], ["size", "Size"], ["modified_time", "Modified"]], "name", () => render());
  const header = el("tr", {}, el("th", { scope: "col", class: "pick" }, all), sortCells);

  function join(folder, name) { return folder === "/" ? `/${name}` : `${folder}/${name}`; }

  async function open(folder, { append = false } = {}) {
    if (closed) return;
    status.textContent = "Loading…";
    try {
      const answer = await api(`${base}/files?${new URLSearchParams({ path: folder, limit: PAGE, offset: append ? entries.length : 0 })}`);
      if (!append) { path = answer.path ?? folder; entries = []; selected.clear(); filter.value = ""; }
      entries = entries.concat(answer.files);
      total = answer.total_count;
      status.textContent = "";
      render();
    } catch (failure) {
      gone(failure) || (status.textContent = `${failure.message}`);
    }
  }

  /** A session the hub no longer knows: expired, closed elsewhere, or the hub restarted. */
  function gone(failure) {
    if (!(failure instanceof APIError) || (failure.status !== 404 && failure.status !== 410) || closed) return false;
    if (failure.status === 404 && !failure.message.includes("restore session not found")) return false;
    finish("Mount expired, please remount.");
    return true;
  }

  function render() {
    up.disabled = path === "/";
    home.disabled = path === "/";
    const names = path.split("/").filter(Boolean);
    crumbs.replaceChildren(crumb(`Disk ${mount.disk_index}`, "/", names.length === 0),
      ...names.flatMap((name, index) => [el("span", { "aria-hidden": "true" }, " › "),
        crumb(name, "/" + names.slice(0, index + 1).join("/"), index === names.length - 1)]));
    order.mark();
    const term = filter.value.trim().toLowerCase();
    const shown = entries.filter((entry) => entry.name.toLowerCase().includes(term)).sort(byOrder);
    body.replaceChildren(...shown.map(row));
    if (shown.length === 0) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: 4, class: "muted" }, entries.length ? "Nothing matches the filter." : "This folder is empty.")));
    }
    more.hidden = entries.length >= total;
    more.textContent = `Show more (${entries.length} of ${total})`;
    all.checked = shown.length > 0 && shown.every((entry) => selected.has(entry.name));
    selectedButton.disabled = selected.size === 0;
    selectedButton.textContent = selected.size ? `Download selected (${selected.size}, zip)` : "Download selected (zip)";
    folderButton.textContent = path === "/" ? "Download everything" : "Download folder";
  }

  function crumb(label, target, current) {
    if (current) return el("span", { "aria-current": "location" }, label);
    const button = el("button", { class: "link" }, label);
    button.addEventListener("click", () => open(target));
    return button;
  }

  function byOrder(a, b) {
    // Folders first, as Explorer does, then the chosen column.
    if ((a.type === "directory") !== (b.type === "directory")) return a.type === "directory" ? -1 : 1;
    const x = a[order.key] ?? "", y = b[order.key] ?? "";
    const result = typeof x === "number" ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true });
    return order.ascending ? result : -result;
  }

  function row(entry) {
    const pick = el("input", { type: "checkbox", "aria-label": `Select ${entry.name}`, checked: selected.has(entry.name) });
    pick.addEventListener("change", () => {
      if (pick.checked) selected.add(entry.name); else selected.delete(entry.name);
      render();
    });
    const folder = entry.type === "directory";
    const name = el("button", { class: "link entry", title: entry.is_symlink ? `link to ${entry.link_target ?? "?"}` : entry.name },
      el("span", { class: `icon ${folder ? "folder" : entry.is_symlink ? "symlink" : "file"}`, "aria-hidden": "true" }),
      entry.name);
    name.addEventListener("click", () => {
      if (folder) open(join(path, entry.name));
      else if (entry.is_symlink) status.textContent = `${entry.name} is a link to ${entry.link_target ?? "an unknown place"}: links are shown, never followed.`;
      else save(`${base}/download?${new URLSearchParams({ path: join(path, entry.name) })}`, entry.name);
    });
    return el("tr", {}, el("td", { class: "pick" }, pick), el("th", { scope: "row" }, name),
      el("td", {}, folder ? "" : bytes(entry.size)), el("td", {}, entry.modified_time ? dateTime(entry.modified_time) : "–"));
  }

  async function save(route, label) {
    try {
      await download(route);
      status.textContent = `Downloading ${label}…`;
    } catch (failure) {
      gone(failure) || (status.textContent = `Download of ${label} not started: ${failure.message}`);
    }
  }

  /** Folder archives can be huge: ask the hub first, and let the user confirm a large one. */
  async function saveArchive(query, label) {
    const route = `${base}/download-directory?${query}`;
    try {
      const answer = await probe(route);
      if (answer.status === 413) {
        const sure = await confirmAction("Large download", `${answer.error ?? "This folder is large."} Download it anyway?`, "Download");
        if (!sure) return;
        query.set("confirm", "true");
        return save(`${base}/download-directory?${query}`, label);
      }
      if (answer.status === 404 || answer.status === 410) return gone(new APIError(answer.status, answer.error ?? "mount not found"));
      if (answer.status !== 200) { status.textContent = `Download of ${label} not started: ${answer.error ?? answer.status}`; return; }
      await save(route, label);
    } catch (failure) {
      status.textContent = failure.message;
    }
  }

  function tick() {
    if (closed) return;
    const left = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
    const minutes = Math.floor(left / 60), seconds = String(left % 60).padStart(2, "0");
    expiry.textContent = left === 0 ? "This mount has expired." : `Mount expires in ${minutes}:${seconds} unless used.`;
    expiry.classList.toggle("warning", left <= 300);
  }

  async function keepalive() {
    try {
      const answer = await api(`${base}/keepalive`, { method: "POST" });
      expiresAt = Date.parse(answer.expires_at);
      tick();
    } catch (failure) {
      gone(failure);
    }
  }

  /** Ends the browser: stops timers and, unless the hub already dropped it, unmounts. */
  async function finish(reason, { unmount = false } = {}) {
    if (closed) return;
    closed = true;
    clearInterval(clock);
    clearInterval(alive);
    unsubscribe();
    if (unmount) await api(base, { method: "DELETE" }).catch(() => {});
    onClosed(reason);
  }

  up.addEventListener("click", () => open(path.split("/").slice(0, -1).join("/") || "/"));
  home.addEventListener("click", () => open("/"));
  refresh.addEventListener("click", () => open(path));
  close.addEventListener("click", () => finish("Unmounted.", { unmount: true }));
  filter.addEventListener("input", render);
  more.addEventListener("click", () => open(path, { append: true }));
  all.addEventListener("change", () => {
    const term = filter.value.trim().toLowerCase();
    for (const entry of entries.filter((item) => item.name.toLowerCase().includes(term))) {
      if (all.checked) selected.add(entry.name); else selected.delete(entry.name);
    }
    render();
  });
  selectedButton.addEventListener("click", () => {
    const query = new URLSearchParams({ path, format: "zip" });
    for (const name of selected) query.append("select", name);
    saveArchive(query, `${selected.size} selected items`);
  });
  folderButton.addEventListener("click", () => saveArchive(new URLSearchParams({ path, format: format.value }), path === "/" ? "everything" : path));

  const clock = setInterval(tick, 1000);
  const alive = setInterval(keepalive, KEEPALIVE_MS);
  const unsubscribe = subscribe((name, data) => {
    if (name === "mount_expiring" && data.mount_id === mount.mount_id) {
      expiresAt = Date.parse(data.expires_at);
      tick();
    }
  });
  signal.addEventListener("abort", () => finish("left", { unmount: true }));
  // Closing the tab: a last unmount the browser sends even as the page goes.
  const leaving = () => fetch(`/api/v1${base}`, { method: "DELETE", keepalive: true, headers: { Authorization: `Bearer ${session.token}` } });
  window.addEventListener("pagehide", leaving, { once: true });
  signal.addEventListener("abort", () => window.removeEventListener("pagehide", leaving));

  root.replaceChildren(el("section", { class: "browser card", "aria-label": "Files in the backup" },
    el("div", { class: "toolbar" }, up, home, refresh, close, filter),
    crumbs,
    el("div", { class: "toolbar" }, selectedButton, el("span", { class: "group" }, folderButton, format)),
    expiry, status,
    el("div", { class: "table" }, el("table", { class: "files" }, el("thead", {}, header), body)), more));
  tick();
  open("/");
}
