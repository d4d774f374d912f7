// vCenter credentials: add, test, edit, delete. The password is write-only:
// the hub never sends it back.
import { api } from "/api.js";
import { el, openDialog, deleteButton, submitDialog, field, reloader } from "/dom.js";

export async function vcentersPage(root) {
  root.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  const list = await api("/vmware-credentials");
  const status = el("p", { class: "status", role: "status" });
  const reload = reloader(vcentersPage, root);
  const add = el("button", {}, "Add vCenter");
  add.addEventListener("click", () => credentialDialog(null, reload));
  const rows = list.credentials.map((credential) => {
    const test = el("button", { class: "secondary" }, "Test");
    const result = el("span", { class: "muted" });
    test.addEventListener("click", async () => {
      test.disabled = true;
      result.textContent = "Testing…";
      try {
        const answer = await api(`/vmware-credentials/${credential.id}/test`, { method: "POST" });
        result.textContent = answer.success ? `OK: ${answer.vm_count} VMs` : `Failed: ${answer.message}`;
        result.className = answer.success ? "ok" : "error";
      } catch (failure) {
        result.textContent = failure.message;
        result.className = "error";
      } finally {
        test.disabled = false;
      }
    });
    const edit = el("button", { class: "secondary" }, "Edit");
    edit.addEventListener("click", () => credentialDialog(credential, reload));
    const remove = deleteButton({ title: "Delete vCenter",
      question: `Delete ${credential.name}? Backups of its VMs will fail until they get another credential.`,
      path: `/vmware-credentials/${credential.id}`, name: credential.name, reload, status });
    return el("tr", {}, el("th", { scope: "row" }, credential.name), el("td", {}, `${credential.vcenter_host}:${credential.vcenter_port}`),
      el("td", {}, credential.username), el("td", {}, credential.datacenter ?? "all"), el("td", {}, credential.transport ?? "https"),
      el("td", {}, credential.insecure ? "any certificate" : credential.thumbprint ? "pinned" : "CA"),
      el("td", { class: "row-actions" }, test, edit, remove, result));
  });
  root.replaceChildren(el("h1", {}, "vCenters"), el("div", { class: "toolbar" }, add), status,
    rows.length === 0 ? el("p", { class: "muted" }, "No vCenter yet: add one to discover and back up its VMs.") :
      el("div", { class: "table" }, el("table", {}, el("thead", {}, el("tr", {},
        ["Name", "Host", "User", "Datacenter", "Transport", "Trust", "Actions"].map((label) => el("th", { scope: "col" }, label)))), el("tbody", {}, rows))));
}

function credentialDialog(credential, reload) {
  const inputs = {
    name: el("input", { name: "name", required: true, value: credential?.name ?? "" }),
    vcenter_host: el("input", { name: "vcenter_host", required: true, value: credential?.vcenter_host ?? "", placeholder: "vcenter.example.com" }),
    vcenter_port: el("input", { name: "vcenter_port", type: "number", min: 1, max: 65535, value: credential?.vcenter_port ?? 443 }),
    username: el("input", { name: "username", required: true, autocomplete: "off", value: credential?.username ?? "" }),
    password: el("input", { name: "password", type: "password", autocomplete: "new-password", required: !credential,
      placeholder: credential ? "unchanged" : "" }),
    datacenter: el("input", { name: "datacenter", value: credential?.datacenter ?? "", placeholder: "all datacenters" }),
    thumbprint: el("input", { name: "thumbprint", value: credential?.thumbprint ?? "", placeholder: "AB:CD:… (SHA-1 or SHA-256), optional" }),
  };
  const transport = el("select", { name: "transport" }, ["https", "vddk", "ssh"].map((value) => el("option", { value, selected: value === (credential?.transport ?? "https") }, value)));
  const insecure = el("input", { type: "checkbox", name: "insecure", checked: credential?.insecure ?? false });
  const error = el("p", { class: "error", role: "alert" });
  const save = el("button", { type: "submit" }, credential ? "Save" : "Add vCenter");
  const form = el("form", { class: "wizard" }, field("Name", inputs.name),
    el("div", { class: "row" }, field("Host", inputs.vcenter_host), field("Port", inputs.vcenter_port)),
    el("div", { class: "row" }, field("User name", inputs.username), field("Password", inputs.password)),
    field("Datacenter", inputs.datacenter), field("Disk transport", transport, "https reads datastore files; vddk needs VMware's VDDK on the hub; ssh reads from the ESXi host"),
    field("Certificate thumbprint", inputs.thumbprint),
    el("label", { class: "choice" }, insecure, " Accept any certificate (labs only)"), error, el("p", { class: "actions" }, save));
  const dialog = openDialog(credential ? `Edit ${credential.name}` : "Add a vCenter", form);
  submitDialog(form, { button: save, error, dialog,
    send: () => {
      const body = { transport: transport.value, insecure: insecure.checked };
      for (const [key, input] of Object.entries(inputs)) {
        const value = input.value.trim();
        if (key === "password" && !value) continue;
        body[key] = key === "vcenter_port" ? Number(value) : value;  // an empty datacenter or thumbprint clears it
      }
      return api(credential ? `/vmware-credentials/${credential.id}` : "/vmware-credentials", { method: credential ? "PUT" : "POST", body });
    },
    done: () => {
      const saved = inputs.name.value.trim();
      reload(credential ? `Saved ${saved}.` : `Added ${saved}: use Test, then Discover VMs on the Virtual Machines page.`);
    } });
}
