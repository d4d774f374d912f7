// Sendense web GUI: plain ES modules, no build step. Views render into #app.
import { api, session, whenUnauthorized, APIError } from "/api.js";
import { dashboard } from "/dashboard.js";
import { vms } from "/vms.js";
import { progressPage } from "/progress.js";
import { backupsPage } from "/backups.js";
import { restorePage } from "/restore.js";
import { recoveriesPage } from "/recoveries.js";
import { jobsPage } from "/jobs.js";
import { flowsPage } from "/flows.js";
import { repositoriesPage } from "/repositories.js";
import { vcentersPage } from "/vcenters.js";
import { usersPage } from "/users.js";
import { machinePage } from "/machine.js";
import { el, failureNotice } from "/dom.js";

const app = document.getElementById("app");

function showLogin(message) {
  const error = el("p", { class: "error", role: "alert" }, message ?? "");
  const username = el("input", { name: "username", autocomplete: "username", required: true, value: "admin" });
  const password = el("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const button = el("button", { type: "submit" }, "Sign in");
  const form = el("form", { class: "card login", "aria-label": "Sign in" },
    el("h1", {}, "Sendense"),
    el("label", {}, "User name", username),
    el("label", {}, "Password", password),
    button, error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    error.textContent = "";
    try {
      const answer = await api("/auth/login", { method: "POST", body: { username: username.value, password: password.value } });
      session.token = answer.token;
      sessionStorage.setItem("sendense.user", username.value);
      showShell();
    } catch (failure) {
      error.textContent = failure.status === 401 ? "Wrong user name or password." : failure.message;
    } finally {
      button.disabled = false;
    }
  });
  app.replaceChildren(form);
  password.focus();
}

// Hash routes: #name/arg/arg… Each page renders into the content section and
// gets an AbortSignal that fires when the user leaves it (timers, streams).
const pages = {
  dashboard: ["Dashboard", dashboard],
  vms: ["Virtual Machines", vms],
  backups: ["Backups", backupsPage],
  restore: ["Restore", restorePage],
  recoveries: ["Recoveries", recoveriesPage],
  jobs: ["Jobs", jobsPage],
  flows: ["Protection", flowsPage],
  repositories: ["Repositories", repositoriesPage],
  vcenters: ["vCenters", vcentersPage],
  users: ["Users", usersPage],
  progress: [null, progressPage],
  vm: [null, machinePage],
};

let leave = null;

function showPage(content, nav) {
  const [name, ...args] = location.hash.slice(1).split("/").map(decodeURIComponent);
  const [, render] = pages[name] ?? pages.dashboard;
  const current = pages[name] ? name : "dashboard";
  for (const link of nav.querySelectorAll("a")) {
    if (link.getAttribute("href") === `#${current}`) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  leave?.abort();
  leave = new AbortController();
  const signal = leave.signal;
  const draw = () => render(content, args, signal).catch((failure) => {
    if (signal.aborted || (failure instanceof APIError && failure.status === 401)) return;
    const notFound = failure instanceof APIError && failure.status === 404;
    content.replaceChildren(notFound ? el("p", { class: "notice error", role: "alert" }, failure.message) : failureNotice(failure, draw));
  });
  draw();
  content.focus({ preventScroll: true });
}

/** Gives every table cell its column's name (data-label), so that on a
 *  phone, where rows become cards, each value keeps its label. */
function labelCells(root) {
  for (const table of root.querySelectorAll(".table table")) {
    const names = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
    for (const row of table.querySelectorAll("tbody tr")) {
      [...row.children].forEach((cell, index) => {
        if (names[index] && !cell.hasAttribute("colspan")) cell.dataset.label = names[index];
      });
    }
  }
}

function showShell() {
  const logout = el("button", { class: "link" }, "Sign out");
  logout.addEventListener("click", async () => {
    try { await api("/auth/logout", { method: "POST" }); } catch { /* signing out locally is enough */ }
    session.token = null;
    leave?.abort();
    showLogin();
  });
  const content = el("section", { id: "content", tabindex: "-1" });
  const nav = el("nav", { "aria-label": "Pages" }, Object.entries(pages).filter(([, [label]]) => label)
    .map(([name, [label]]) => el("a", { href: `#${name}` }, label)));
  app.replaceChildren(
    el("header", { class: "top" },
      el("strong", {}, "Sendense"), nav,
      el("span", { class: "user" }, sessionStorage.getItem("sendense.user") ?? ""), logout),
    content);
  new MutationObserver(() => labelCells(document.body)).observe(document.body, { childList: true, subtree: true });
  window.onhashchange = () => showPage(content, nav);
  showPage(content, nav);
  // Pages a role cannot use are not offered (the hub refuses them anyway).
  api("/auth/me").then((me) => {
    if (me.role !== "admin") nav.querySelector('a[href="#users"]')?.remove();
  }).catch(() => {});
}

whenUnauthorized(() => { leave?.abort(); showLogin("Your session ended: please sign in again."); });
if (session.token) showShell(); else showLogin();
