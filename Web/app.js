// Sendense web GUI: plain ES modules, no build step. Views render into #app.
import { api, session, whenUnauthorized, APIError } from "/api.js";
import { dashboard } from "/dashboard.js";
import { vms } from "/vms.js";
import { el } from "/dom.js";

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

const pages = { dashboard: ["Dashboard", dashboard], vms: ["Virtual Machines", vms] };

function showPage(content, nav) {
  const name = location.hash.slice(1).split("/")[0] || "dashboard";
  const [, render] = pages[name] ?? pages.dashboard;
  for (const link of nav.querySelectorAll("a")) {
    if (link.getAttribute("href") === `#${name}`) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  render(content).catch((failure) => {
    if (!(failure instanceof APIError && failure.status === 401)) content.replaceChildren(el("p", { class: "error" }, failure.message));
  });
}

function showShell() {
  const logout = el("button", { class: "link" }, "Sign out");
  logout.addEventListener("click", async () => {
    try { await api("/auth/logout", { method: "POST" }); } catch { /* signing out locally is enough */ }
    session.token = null;
    showLogin();
  });
  const content = el("section", { id: "content" });
  const nav = el("nav", { "aria-label": "Pages" }, Object.entries(pages).map(([name, [label]]) => el("a", { href: `#${name}` }, label)));
  app.replaceChildren(
    el("header", { class: "top" },
      el("strong", {}, "Sendense"), nav,
      el("span", { class: "user" }, sessionStorage.getItem("sendense.user") ?? ""), logout),
    content);
  window.onhashchange = () => showPage(content, nav);
  showPage(content, nav);
}

whenUnauthorized(() => showLogin("Your session ended: please sign in again."));
if (session.token) showShell(); else showLogin();
