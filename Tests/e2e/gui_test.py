#!/usr/bin/env python3
"""The web GUI end to end: a real hub (the built `sendense` binary, fresh data dir) driven by
Debian's Chromium through Playwright. Screenshots of every page go to test-output/e2e/.
Run by `make test` after the Swift tests; exits non-zero on the first failure."""
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from playwright.sync_api import expect, sync_playwright

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = os.environ.get("SENDENSE_BINARY", str(ROOT / ".build" / "debug" / "sendense"))
OUT = ROOT / "test-output" / "e2e"


def start_hub(data_dir):
    hub = subprocess.Popen([BINARY, "hub", "--data-dir", data_dir, "--port", "0", "--bind", "127.0.0.1"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    url = None
    while time.time() < deadline and url is None:
        line = hub.stderr.readline()
        if not line:
            break
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if match:
            url = match.group(1)
    if url is None:
        hub.kill()
        sys.exit("the hub did not start")
    # Keep reading its log so it never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in hub.stderr], daemon=True).start()
    return hub, url


def api(url, path, token=None, method="GET", body=None):
    request = urllib.request.Request(url + "/api/v1" + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(request) as response:
        text = response.read()
        return json.loads(text) if text else None, response.headers


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sendense-e2e-") as work:
        data = os.path.join(work, "data")
        hub, url = start_hub(data)
        try:
            password = pathlib.Path(data, "admin-password").read_text().strip()
            run(url, password, work)
        finally:
            hub.terminate()
            hub.wait(timeout=30)
    print("gui e2e: all passed")


def register_vm(url, token, work, name, size="16M"):
    image = os.path.join(work, name + ".qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", image, size], check=True)
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 1M", image], check=True, stdout=subprocess.DEVNULL)
    api(url, "/vm-contexts", token=token, method="POST",
        body={"vm_name": name, "source": {"type": "qemu_image", "disks": [{"path": image, "label": "vda"}]}})


def vm_pages(page, url, work):
    token = page.evaluate("sessionStorage.getItem('sendense.token')")
    register_vm(url, token, work, "web")
    register_vm(url, token, work, "db", size="32M")
    page.get_by_role("link", name="Virtual Machines").click()
    expect(page.get_by_role("heading", name="Virtual Machines")).to_be_visible()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first.get_by_role("rowheader")).to_have_text("db")
    # Sorting by name again turns the order around.
    page.get_by_role("button", name="Name").click()
    expect(rows.first.get_by_role("rowheader")).to_have_text("web")
    page.get_by_role("searchbox", name="Search VMs").fill("d")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("1 (32.0 MiB)")
    page.get_by_role("searchbox", name="Search VMs").fill("nothing-like-this")
    expect(page.get_by_text("No VM matches the search.")).to_be_visible()
    page.get_by_role("searchbox", name="Search VMs").fill("web")
    expect(rows.first).to_contain_text("never")
    page.get_by_role("button", name="Backup Now").click()
    expect(page.get_by_role("status")).to_contain_text("Started full backup backup-web-")
    backup_id = re.search(r"(backup-web-\S+) of web", page.get_by_role("status").inner_text()).group(1)
    for _ in range(300):
        state, _ = api(url, "/backups/" + backup_id, token=token)
        if state["status"] not in ("started", "in_progress"):
            break
        time.sleep(0.1)
    assert state["status"] == "completed", state
    page.reload()
    expect(page.locator("tbody tr").filter(has_text="web")).not_to_contain_text("never")
    # A second backup while none runs starts an incremental; the page says so.
    page.get_by_role("searchbox", name="Search VMs").fill("web")
    page.get_by_role("button", name="Backup Now").click()
    expect(page.get_by_role("status")).to_contain_text("Started incremental backup")
    page.screenshot(path=str(OUT / "vms.png"))


def run(url, password, work):
    # The GUI's files come with strict headers; Chart.js is served from Debian's package.
    with urllib.request.urlopen(url + "/") as response:
        assert "default-src 'self'" in response.headers["Content-Security-Policy"], response.headers
        assert b'<main id="app"' in response.read()
    with urllib.request.urlopen(url + "/vendor/chart.js") as response:
        assert response.headers["Content-Type"].startswith("text/javascript")
    try:
        urllib.request.urlopen(url + "/../../etc/passwd")
        raise AssertionError("a path outside the GUI's folder was served")
    except urllib.error.HTTPError as error:
        assert error.code in (400, 404), error.code

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))

        page.goto(url + "/")
        expect(page.get_by_role("form", name="Sign in")).to_be_visible()
        page.screenshot(path=str(OUT / "login.png"))

        page.get_by_label("Password").fill("not-the-password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")

        page.get_by_label("Password").fill(password)
        page.get_by_label("Password").press("Enter")
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        expect(page.get_by_text("local", exact=True)).to_be_visible()
        expect(page.get_by_text("0 of 0")).to_be_visible()
        page.screenshot(path=str(OUT / "dashboard.png"))
        vm_pages(page, url, work)
        page.get_by_role("link", name="Dashboard").click()
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

        # Still signed in after a reload (the token lives in sessionStorage).
        page.reload()
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

        # A revoked token anywhere brings the login back, saying why.
        token = page.evaluate("sessionStorage.getItem('sendense.token')")
        api(url, "/auth/logout", token=token, method="POST")
        page.reload()
        expect(page.get_by_role("alert")).to_have_text("Your session ended: please sign in again.")

        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(OUT / "dashboard-390.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, "the dashboard is wider than a phone"
        page.get_by_role("link", name="Virtual Machines").click()
        expect(page.get_by_role("heading", name="Virtual Machines")).to_be_visible()
        page.screenshot(path=str(OUT / "vms-390.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, "the VM list is wider than a phone"

        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("form", name="Sign in")).to_be_visible()
        assert page.evaluate("sessionStorage.getItem('sendense.token')") is None
        assert not errors, errors
        browser.close()


if __name__ == "__main__":
    main()
