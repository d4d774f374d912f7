// Small DOM helpers shared by the pages.
import { api } from "/api.js";

// el("p", { class: "x" }, "text", child…): one element, attributes, children.
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === true) node.setAttribute(name, "");
    else if (value !== false && value !== undefined && value !== null) node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== null) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
export function bytes(count) {
  let value = Number(count) || 0, unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** "5 minutes ago", "3 days ago". */
export function relativeTime(iso) {
  const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000);
  const format = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  for (const [unit, size] of [["year", 31_536_000], ["month", 2_592_000], ["day", 86_400], ["hour", 3_600], ["minute", 60]]) {
    if (Math.abs(seconds) >= size) return format.format(-Math.round(seconds / size), unit);
  }
  return format.format(-seconds, "second");
}

/** 75 → "1 min 15 s", 3700 → "1 h 1 min". */
export function duration(seconds) {
  const s = Math.max(0, Math.round(Number(seconds) || 0));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** A small coloured label: a status ("completed", "failed"…) or a backup type. */
export function badge(text) {
  return el("span", { class: `badge ${String(text).replace(/[^a-z_]/gi, "")}` }, String(text).replace(/_/g, " "));
}

/** How consistent a restore point is, as a badge; nothing when unknown. */
export function consistencyBadge(consistency) {
  const words = { application_consistent: "app-consistent", crash_consistent: "crash-consistent", powered_off: "powered off" };
  const titles = { application_consistent: "The guest agent froze the filesystems for the checkpoint",
    crash_consistent: "Taken from a running guest without its help: as after a power cut", powered_off: "The VM was not running" };
  return consistency ? el("span", { class: `badge ${consistency}`, title: titles[consistency] ?? "" }, words[consistency] ?? consistency) : "";
}

/** A restore point's newest boot check, as a badge; nothing when never checked. */
export function bootBadge(verdict) {
  const words = { passed: "boots", failed: "boot failed", error: "boot check error" };
  const titles = { passed: "Booted in a sandbox: its guest showed a heartbeat", failed: "Booted in a sandbox: no heartbeat in time",
    error: "The boot check could not judge this point" };
  return verdict ? el("span", { class: `badge boot-${verdict}`, title: titles[verdict] ?? "" }, words[verdict] ?? verdict) : "";
}

/** "2 Dec 2026, 14:05" in the reader's locale. */
export function dateTime(iso) {
  return iso ? new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : "–";
}

/** A failure in words with a Retry button that runs `again`. */
export function failureNotice(failure, again) {
  const retry = el("button", {}, "Retry");
  retry.addEventListener("click", again);
  return el("div", { class: "notice error", role: "alert" }, el("p", {}, failure.message ?? String(failure)), retry);
}

/** A modal dialog (Escape closes it; it is removed once closed). Answers the <dialog>. */
export function openDialog(title, ...content) {
  const close = el("button", { class: "link close", "aria-label": "Close" }, "✕");
  const dialog = el("dialog", { "aria-label": title }, el("header", {}, el("h2", {}, title), close), ...content);
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

/** Asks before something that cannot be undone; answers true when confirmed. */
export function confirmAction(title, message, action) {
  return new Promise((resolve) => {
    const yes = el("button", { class: "danger" }, action);
    const no = el("button", { class: "secondary" }, "Keep");
    const dialog = openDialog(title, el("p", {}, message), el("p", { class: "actions" }, yes, no));
    let answer = false;
    yes.addEventListener("click", () => { answer = true; dialog.close(); });
    no.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => resolve(answer));
    no.focus();
  });
}

/**
 * A row's "Delete" button: asks `question` first, sends DELETE to `path`,
 * then `reload("Deleted NAME.")`; a refusal (a repository still holding
 * backups, the last admin) is shown in `status` in the hub's words.
 */
export function deleteButton({ title, question, path, name, reload, status }) {
  const button = el("button", { class: "link danger-text" }, "Delete");
  button.addEventListener("click", async () => {
    if (!await confirmAction(title, question, "Delete")) return;
    button.disabled = true;
    try {
      await api(path, { method: "DELETE" });
      reload(`Deleted ${name}.`);
    } catch (failure) {
      status.textContent = `Not deleted: ${failure.message}`;
      button.disabled = false;
    }
  });
  return button;
}

/**
 * Sends a dialog's form: `send()` runs with `button` disabled and `error`
 * cleared; once it succeeded the dialog closes and `done(answer)` follows;
 * a refusal is shown in `error` in the hub's words and the button works again.
 */
export function submitDialog(form, { button, error, dialog, send, done }) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    error.textContent = "";
    let answer;
    try {
      answer = await send();
    } catch (failure) {
      error.textContent = failure.message;
      button.disabled = false;
      return;
    }
    dialog.close();
    done(answer);
  });
}

/** A labelled form field. */
export function field(label, input, hint) {
  // The accessible name is the label alone (a wrapping label would also
  // lend it the hint and a select's option texts).
  if (!input.hasAttribute("aria-label")) input.setAttribute("aria-label", label);
  return el("label", { class: "field" }, el("span", {}, label), input, hint ? el("small", { class: "muted" }, hint) : null);
}

let chartLibrary;
/** Chart.js from the hub's /vendor/chart.js (Debian's libjs-chart.js), or null when the hub has none. */
export function loadChart() {
  chartLibrary ??= import("/vendor/chart.js").then(() => globalThis.Chart ?? null, () => null);
  return chartLibrary;
}

export const noChartsNotice = "Charts are unavailable: the hub has no Chart.js (install Debian's libjs-chart.js on it).";

/** A figure with its label, in the tiles row. */
export function tile(label, value) {
  return el("div", { class: "tile" }, el("span", { class: "muted" }, label), el("strong", {}, value ?? "–"));
}

/** plural(1, "VM") → "1 VM", plural(3, "VM") → "3 VMs". */
export function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

/** Column headers that sort: a click sorts by that column, a second click
 *  reverses. Answers the header cells and the order ({key, ascending,
 *  mark()}: mark() shows the order to assistive technology and the arrows). */
export function sortHeaders(columns, key, onChange) {
  const order = { key, ascending: true };
  const cells = columns.map(([name, label]) => {
    const button = el("button", { class: "link sort" }, label);
    button.addEventListener("click", () => {
      order.ascending = order.key === name ? !order.ascending : true;
      order.key = name;
      onChange();
    });
    return el("th", { scope: "col", "aria-sort": "none", "data-key": name }, button);
  });
  order.mark = () => {
    for (const th of cells) th.setAttribute("aria-sort", th.dataset.key === order.key ? (order.ascending ? "ascending" : "descending") : "none");
  };
  return [cells, order];
}

/** Redraws a page, then shows `message` in its status line: how a page
 *  reports what a dialog or an action just did. */
export function reloader(page, root) {
  return (message) => page(root).then(() => { root.querySelector(".status").textContent = message ?? ""; });
}
