#!/usr/bin/env python3
"""The web GUI end to end: a real hub (the built `sendense` binary, fresh data dir) driven by
Debian's Chromium through Playwright. A person's whole journey: sign in, VMs, Backup Now with live
progress, history and chain, an incremental through the wizard, the Performance chart, mounting a
backup and browsing it three folders deep, downloading a file (bytes compared), a selection as zip
and a folder as tar.gz, unmounting; the other pages; error paths. Screenshots of every page, at
1280x800 and 390 px wide, go to test-output/e2e/. Run by `make test` after the Swift tests; exits
non-zero on the first failure."""
import filecmp
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile

from playwright.sync_api import expect, sync_playwright

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "harness"))
from hub import ROOT, api, make_data_vm, make_files_vm, run_tool, start_hub, wait_backup  # noqa: E402

OUT = ROOT / "test-output" / "e2e"

PAGES = ["dashboard", "vms", "backups", "restore", "recoveries", "jobs", "flows", "repositories", "vcenters", "users"]


def start_vcsim(work, vms=3):
    """The test vCenter (Tests/vcsim, built by scripts/build-vcsim.sh); its datastore goes under `work`."""
    subprocess.run([str(ROOT / "scripts" / "build-vcsim.sh")], check=True, stdout=subprocess.DEVNULL)
    process = subprocess.Popen([str(ROOT / ".build" / "vcsim" / "vcsim"), "-vms", str(vms), "-disk-mb", "0"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": work})
    return process, json.loads(process.stdout.readline())


def start_libvirt_domain(work, name=None):
    """A stopped libvirt domain with one 16 MiB qcow2 disk; libvirtd started when it does not run (no systemd)."""
    def answers():
        return subprocess.run(["virsh", "-c", "qemu:///system", "version"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    os.makedirs("/run/sendense-tests", exist_ok=True)
    if subprocess.run(["pgrep", "-x", "virtlogd"], stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["virtlogd", "-d", "-p", "/run/sendense-tests/virtlogd.pid"], stderr=subprocess.DEVNULL)
    if not answers():
        subprocess.run(["libvirtd", "-d", "-p", "/run/sendense-tests/libvirtd.pid"], stderr=subprocess.DEVNULL)
        for _ in range(100):
            if answers():
                break
            time.sleep(0.1)
    name = name or f"e2e-{os.getpid()}"
    disk = os.path.join(work, f"{name}.qcow2")
    run_tool("qemu-img", "create", "-q", "-f", "qcow2", disk, "16M")
    definition = os.path.join(work, f"{name}.xml")
    with open(definition, "w") as out:
        out.write(f"""<domain type='qemu'><name>{name}</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{disk}'/><target dev='vda' bus='virtio'/></disk></devices>
</domain>""")
    run_tool("virsh", "-c", "qemu:///system", "define", definition)
    return name


def start_qmp_vm(work):
    """A running QEMU (no guest OS) with one 16 MiB qcow2 disk and a QMP socket for the hub."""
    disk = os.path.join(work, "pve-101.qcow2")
    run_tool("qemu-img", "create", "-q", "-f", "qcow2", disk, "16M")
    socket_path = os.path.join(work, "pve-101.qmp")
    qemu = subprocess.Popen(["qemu-system-x86_64", "-accel", "tcg", "-m", "64", "-display", "none", "-nodefaults",
                             "-drive", f"file={disk},format=qcow2,if=none,id=drive-virtio0", "-device", "virtio-blk-pci,drive=drive-virtio0",
                             "-qmp", f"unix:{socket_path},server=on,wait=off"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if os.path.exists(socket_path):
            break
        time.sleep(0.1)
    return qemu, socket_path


def stop_vcsim(process):
    process.stdin.close()  # it exits when its input ends
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def servers_of(data):
    result = subprocess.run(["pgrep", "-f", f"qemu-nbd.*{data}/run"], capture_output=True, text=True)
    return [int(pid) for pid in result.stdout.split()]


def freeze_next_server(data):
    """Watches /proc from now on and stops (SIGSTOP) the first qemu-nbd serving this data dir the
    moment it appears: a backup of a few MiB is over in a blink, too soon for pgrep after the click.
    Answers a thread to join; its .pids holds what it stopped."""
    needle = f"{data}/run".encode()

    def watch():
        deadline = time.time() + 20
        while time.time() < deadline and not watcher.pids:
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry}/cmdline", "rb") as handle:
                        command = handle.read()
                except OSError:
                    continue
                if command.startswith(b"/usr/bin/qemu-nbd") and needle in command:
                    os.kill(int(entry), signal.SIGSTOP)
                    watcher.pids.append(int(entry))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.pids = []
    watcher.start()
    return watcher


def signal_all(pids, number):
    """Signals each process that still runs (a server ends with its backup)."""
    for pid in pids:
        try:
            os.kill(pid, number)
        except ProcessLookupError:
            pass


def shot(page, name):
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sendense-e2e-") as work:
        data = os.path.join(work, "data")
        hub, url = start_hub(data)
        try:
            password = pathlib.Path(data, "admin-password").read_text().strip()
            run(url, password, work, data)
        finally:
            signal_all(servers_of(data), signal.SIGCONT)
            hub.terminate()
            hub.wait(timeout=30)
    print("gui e2e: all passed")


def served_files(url):
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


def sign_in(page, url, password):
    page.goto(url + "/")
    expect(page.get_by_role("form", name="Sign in")).to_be_visible()
    shot(page, "login")
    page.get_by_label("Password", exact=True).fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password", exact=True).press("Enter")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_text("local", exact=True)).to_be_visible()
    expect(page.get_by_text("0 of 0")).to_be_visible()
    shot(page, "dashboard")


def vm_list(page):
    page.get_by_role("link", name="Virtual Machines").click()
    expect(page.get_by_role("heading", name="Virtual Machines")).to_be_visible()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first.get_by_role("rowheader")).to_have_text("db")
    page.get_by_role("button", name="Name").click()  # sorting by name again turns the order around
    expect(rows.first.get_by_role("rowheader")).to_have_text("web")
    page.get_by_role("searchbox", name="Search VMs").fill("d")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("1 (32.0 MiB)")
    page.get_by_role("searchbox", name="Search VMs").fill("nothing-like-this")
    expect(page.get_by_text("No VM matches the search.")).to_be_visible()
    page.get_by_role("searchbox", name="Search VMs").fill("web")
    expect(rows.first).to_contain_text("never")
    shot(page, "vms")


def backup_now_with_live_progress(page, url, token, data):
    """Backup Now → the progress view, live. Its qemu-nbd is frozen, then throttled, so the running state is seen for sure."""
    page.get_by_role("searchbox", name="Search VMs").fill("web")
    watcher = freeze_next_server(data)
    page.get_by_role("button", name="Backup Now").click()
    expect(page.get_by_role("heading", name="Backup of web")).to_be_visible()
    backup_id = page.url.split("#progress/")[1]
    watcher.join(timeout=20)
    servers = watcher.pids
    assert servers, "the backup's qemu-nbd was never seen"
    try:
        expect(page.get_by_text("Live", exact=True)).to_be_visible(timeout=10_000)
        expect(page.get_by_role("button", name="Cancel backup")).to_be_visible()
        expect(page.get_by_label("Overall progress", exact=True)).to_be_visible()
        # Then a slow disk: qemu-nbd runs 1 ms in every 400 ms (a few MiB each time), so the page
        # shows bytes moving and the speed chart gets several samples.
        seen_moving = False
        for _ in range(100):
            signal_all(servers, signal.SIGCONT)
            time.sleep(0.001)
            signal_all(servers, signal.SIGSTOP)
            time.sleep(0.4)
            if not seen_moving and not page.locator(".figures dd").first.inner_text().startswith("0 B of"):
                seen_moving = True
                shot(page, "progress-running")
            state, _ = api(url, "/backups/" + backup_id, token=token)
            if state["status"] not in ("started", "in_progress"):
                break
        assert seen_moving, "the progress view never showed bytes copied while the backup ran"
    finally:
        signal_all(servers, signal.SIGCONT)
    expect(page.get_by_role("status")).to_contain_text("Completed", timeout=30_000)
    expect(page.get_by_text("100%", exact=True).first).to_be_visible()
    expect(page.get_by_label("Disk 0 progress", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Cancel backup")).to_be_hidden()
    shot(page, "progress-completed")
    state, _ = api(url, "/backups/" + backup_id, token=token)
    assert state["status"] == "completed" and state["backup_type"] == "full", state
    return backup_id


def history_and_incremental(page, url, token, data):
    page.get_by_role("link", name="All backups of web").click()
    expect(page.get_by_role("heading", name="Backups of web")).to_be_visible()
    chain = page.get_by_role("region", name="Chain in local")
    expect(chain.locator("li")).to_have_count(1)
    expect(page.locator("tbody tr")).to_have_count(1)

    # The wizard: incremental, the repository with its free space, the disk checklist with the total.
    # The event stream is refused this time: the progress view says so and polls instead.
    page.route("**/api/v1/events", lambda route: route.abort())
    page.reload()
    page.get_by_role("link", name="Virtual Machines").click()
    page.get_by_role("searchbox", name="Search VMs").fill("web")
    page.get_by_role("button", name="Backup…").click()
    wizard = page.get_by_role("dialog", name="Back up web")
    expect(wizard).to_be_visible()
    expect(wizard.get_by_label("Repository", exact=True)).to_contain_text("free of")
    expect(wizard).to_contain_text("Total: 64.0 MiB")
    wizard.get_by_role("checkbox").uncheck()
    expect(wizard.get_by_role("button", name="Start backup")).to_be_disabled()
    wizard.get_by_role("checkbox").check()
    shot(page, "wizard")
    watcher = freeze_next_server(data)
    wizard.get_by_role("button", name="Start backup").click()
    expect(page.get_by_role("heading", name="Backup of web")).to_be_visible()
    watcher.join(timeout=20)
    assert watcher.pids, "the incremental's qemu-nbd was never seen"
    try:
        # Frozen past the page's first looks: only a later poll can bring the end.
        expect(page.get_by_text("Live updates unavailable: refreshing every 3 s")).to_be_visible()
        expect(page.get_by_role("button", name="Cancel backup")).to_be_visible()
        time.sleep(1)
    finally:
        signal_all(watcher.pids, signal.SIGCONT)
    expect(page.get_by_role("status")).to_contain_text("Completed", timeout=10_000)
    page.unroute("**/api/v1/events")
    incremental_id = page.url.split("#progress/")[1]
    state, _ = api(url, "/backups/" + incremental_id, token=token)
    assert state["backup_type"] == "incremental" and state["status"] == "completed", state

    page.get_by_role("link", name="All backups of web").click()
    chain = page.get_by_role("region", name="Chain in local")
    expect(chain.locator("li")).to_have_count(2)
    expect(chain.locator("li").nth(0)).to_contain_text("full")
    expect(chain.locator("li").nth(1)).to_contain_text("incremental")
    expect(page.locator("tbody tr")).to_have_count(2)
    shot(page, "backups")
    return incremental_id


def machine_details(page, full_id):
    page.goto(page.url.split("#")[0] + f"#vm/web/performance/{full_id}")
    dialog = page.get_by_role("dialog", name="web")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("tab", name="Performance")).to_have_attribute("aria-selected", "true")
    canvas = dialog.locator("canvas")
    expect(canvas).to_be_visible()
    points = int(canvas.get_attribute("data-points"))
    assert points >= 3, f"the speed chart has {points} points"
    expect(dialog).to_contain_text("Peak speed")
    shot(page, "machine-performance")
    dialog.get_by_role("tab", name="Summary").click()
    expect(dialog).to_contain_text("Total backups")
    expect(dialog.locator(".tile").filter(has_text="Total backups")).to_contain_text("2")
    expect(dialog.locator(".tile").filter(has_text="Success rate")).to_contain_text("100%")
    shot(page, "machine-summary")
    dialog.get_by_role("tab", name="Summary").press("ArrowRight")  # keyboard moves between tabs
    expect(dialog.get_by_role("tab", name="Performance")).to_have_attribute("aria-selected", "true")
    dialog.get_by_role("tab", name="Analytics").click()
    expect(dialog.locator("canvas")).to_have_count(2)
    shot(page, "machine-analytics")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def file_restore(page, url, token, files, work):
    started, _ = api(url, "/backups", token=token, method="POST",
                     body={"vm_name": "files", "repository_id": "1", "backup_type": "full"})
    assert wait_backup(url, token, started["backup_id"])["status"] == "completed"
    backup_id = started["backup_id"]

    page.get_by_role("link", name="Restore").click()
    expect(page.get_by_role("heading", name="Restore", exact=True)).to_be_visible()
    expect(page.get_by_text("No backup is mounted.")).to_be_visible()
    page.get_by_label("VM", exact=True).select_option("files")
    page.get_by_role("link", name=re.compile(r"\d")).first.click()
    expect(page.get_by_role("heading", name="Restore files")).to_be_visible()
    shot(page, "restore")

    # The whole disk: downloaded as a raw image, and written into a new file on the hub; both equal the source.
    source_raw = os.path.join(work, "files-source.raw")
    run_tool("qemu-img", "convert", "-f", "qcow2", "-O", "raw", os.path.join(work, "files.qcow2"), source_raw)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download disk image").click()
    assert filecmp.cmp(download.value.path(), source_raw, shallow=False), "the downloaded disk image differs from the source"
    target = os.path.join(work, "restored.qcow2")
    page.get_by_label("Restore the disk to a new file on the hub", exact=True).fill(target)
    page.get_by_label("Restored file format", exact=True).select_option("qcow2")
    page.get_by_role("button", name="Restore to path").click()
    expect(page.get_by_label("Restore progress", exact=True).locator("xpath=..")).to_contain_text("Restored 32.0 MiB.", timeout=30_000)
    run_tool("qemu-img", "check", "-q", target)
    run_tool("qemu-img", "compare", "-q", "-F", "raw", target, source_raw)
    os.remove(source_raw)
    page.get_by_role("button", name="Restore to path").click()  # the file exists now: refused in words
    expect(page.get_by_role("alert")).to_contain_text("Not started")

    page.get_by_role("button", name="Browse & download files").click()
    browser = page.get_by_role("region", name="Files in the backup")
    expect(browser).to_be_visible()
    expect(page.get_by_role("status").first).to_contain_text("ext4")
    timer = browser.get_by_role("timer")
    expect(timer).to_contain_text(re.compile(r"Mount expires in (59|60):"))
    expect(timer).not_to_have_class(re.compile(r"\bwarning\b"))
    # The page's clock jumps 56 minutes (its timers keep real time): under
    # 5 minutes left, the countdown turns into a warning; back again, it is not.
    page.clock.set_system_time(time.time() + 56 * 60)
    expect(timer).to_contain_text(re.compile(r"Mount expires in [34]:\d\d unless used"))
    expect(timer).to_have_class(re.compile(r"\bwarning\b"))
    page.clock.set_system_time(time.time())
    expect(timer).not_to_have_class(re.compile(r"\bwarning\b"))
    mounts, _ = api(url, "/restore/mounts", token=token)
    assert mounts["count"] == 1, mounts

    # Three folders deep, by clicking names; the breadcrumbs follow.
    for folder in ["projects", "2026", "q4"]:
        browser.get_by_role("button", name=folder, exact=True).click()
        expect(browser.get_by_role("navigation", name="Folder path").locator("[aria-current]")).to_have_text(folder)
    rows = browser.locator("tbody tr")
    expect(rows).to_have_count(3)
    # Sorting by size puts the biggest last, then first.
    browser.get_by_role("button", name="Size").click()
    expect(rows.last).to_contain_text("data.bin")
    browser.get_by_role("button", name="Size").click()
    expect(rows.first).to_contain_text("data.bin")
    browser.get_by_role("searchbox", name="Filter this folder").fill("rep")
    expect(rows).to_have_count(1)
    browser.get_by_role("searchbox", name="Filter this folder").fill("")
    shot(page, "browser")

    # One file, byte for byte.
    with page.expect_download() as download:
        browser.get_by_role("button", name="data.bin").click()
    saved = download.value.path()
    assert download.value.suggested_filename == "data.bin", download.value.suggested_filename
    assert pathlib.Path(saved).read_bytes() == files["projects/2026/q4/data.bin"], "data.bin differs"

    # A selection as zip.
    browser.get_by_label("Select report.txt", exact=True).check()
    browser.get_by_label("Select notes.md", exact=True).check()
    with page.expect_download() as download:
        browser.get_by_role("button", name=re.compile(r"Download selected \(2")).click()
    archive = zipfile.ZipFile(download.value.path())
    contents = {name: archive.read(name) for name in archive.namelist() if not name.endswith("/")}
    assert contents == {"report.txt": files["projects/2026/q4/report.txt"], "notes.md": files["projects/2026/q4/notes.md"]}, contents.keys()

    # Up one level, then that folder as tar.gz.
    browser.get_by_role("button", name="Up").click()
    expect(browser.get_by_role("navigation", name="Folder path").locator("[aria-current]")).to_have_text("2026")
    browser.get_by_label("Folder archive format", exact=True).select_option("tar.gz")
    with page.expect_download() as download:
        browser.get_by_role("button", name="Download folder").click()
    with tarfile.open(download.value.path(), "r:gz") as archive:
        found = {member.name.split("2026/", 1)[-1]: archive.extractfile(member).read() for member in archive.getmembers() if member.isfile()}
    expected = {key.split("2026/", 1)[1]: value for key, value in files.items() if key.startswith("projects/2026/")}
    assert found == expected, (sorted(found), sorted(expected))

    # A mount closed behind the page's back: the page says so and offers to remount.
    mount_id = mounts["mounts"][0]["mount_id"]
    browser.get_by_role("button", name="Root").click()
    expect(browser.get_by_role("button", name="readme.txt")).to_be_visible()
    api(url, f"/restore/{mount_id}", token=token, method="DELETE")
    browser.get_by_role("button", name="Refresh").click()
    expect(page.get_by_role("status").first).to_have_text("Mount expired, please remount.")
    expect(page.get_by_role("button", name="Browse & download files")).to_be_enabled()

    # Mount again, then Close unmounts.
    page.get_by_role("button", name="Browse & download files").click()
    expect(browser.get_by_role("button", name="projects", exact=True)).to_be_visible()
    assert api(url, "/restore/mounts", token=token)[0]["count"] == 1
    browser.get_by_role("button", name="Close").click()
    expect(page.get_by_role("status").first).to_have_text("Unmounted.")
    assert api(url, "/restore/mounts", token=token)[0]["count"] == 0

    # Leaving the page with a mount open unmounts it too.
    page.get_by_role("button", name="Browse & download files").click()
    expect(browser.get_by_role("button", name="projects", exact=True)).to_be_visible()
    page.get_by_role("link", name="Jobs").click()
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    for _ in range(50):
        if api(url, "/restore/mounts", token=token)[0]["count"] == 0:
            break
        time.sleep(0.1)
    assert api(url, "/restore/mounts", token=token)[0]["count"] == 0, "leaving the browser left its mount"
    return backup_id


def other_pages(page, url, token, work):
    # Jobs: every backup so far and the disk restore, completed.
    expect(page.locator("tbody tr").filter(has=page.get_by_role("cell", name="backup", exact=True))).to_have_count(3)
    expect(page.locator("tbody tr").filter(has=page.get_by_role("cell", name="restore", exact=True))).to_contain_text("completed")
    shot(page, "jobs")
    page.get_by_role("button", name="Clean up now").click()
    expect(page.get_by_role("status")).not_to_be_empty()

    # Repositories: add a second local one through the dialog.
    page.get_by_role("link", name="Repositories").click()
    expect(page.get_by_role("region", name="local")).to_contain_text("backups")
    page.get_by_role("button", name="Add repository").click()
    dialog = page.get_by_role("dialog", name="Add a repository")
    dialog.get_by_label("Name", exact=True).fill("second")
    dialog.get_by_label("Folder on the hub", exact=True).fill("relative/path")
    dialog.get_by_role("button", name="Add repository").click()
    expect(dialog.get_by_role("alert")).not_to_be_empty()  # a relative path is refused, in words
    dialog.get_by_label("Folder on the hub", exact=True).fill(os.path.join(work, "second-repo"))
    dialog.get_by_role("button", name="Add repository").click()
    expect(page.get_by_role("region", name="second")).to_be_visible()
    shot(page, "repositories")
    # Deleting asks first; "Keep" keeps it. A repository holding backups is refused in the hub's words.
    local = page.get_by_role("region", name="local")
    local.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog", name="Delete repository").get_by_role("button", name="Keep").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    local.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog", name="Delete repository").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status").first).to_contain_text("Not deleted:")
    expect(local).to_be_visible()

    # vCenters: empty, then a credential that cannot connect is saved and its test says why.
    page.get_by_role("link", name="vCenters").click()
    expect(page.get_by_text("No vCenter yet")).to_be_visible()
    page.get_by_role("button", name="Add vCenter").click()
    dialog = page.get_by_role("dialog", name="Add a vCenter")
    dialog.get_by_label("Name", exact=True).fill("lab")
    dialog.get_by_label("Host", exact=True).fill("127.0.0.1")
    dialog.get_by_label("Port", exact=True).fill("9")
    dialog.get_by_label("User name", exact=True).fill("administrator@vsphere.local")
    dialog.get_by_label("Password", exact=True).fill("secret-password")
    dialog.get_by_role("button", name="Add vCenter").click()
    expect(page.get_by_role("rowheader", name="lab")).to_be_visible()
    page.get_by_role("button", name="Test").click()
    expect(page.locator("td.row-actions .error")).to_contain_text("Failed", timeout=20_000)

    # A real (simulated) vCenter: pinned by its thumbprint, tested, then its VMs discovered and added.
    simulator, info = start_vcsim(work)
    try:
        page.get_by_role("button", name="Add vCenter").click()
        dialog = page.get_by_role("dialog", name="Add a vCenter")
        dialog.get_by_label("Name", exact=True).fill("vcsim")
        dialog.get_by_label("Host", exact=True).fill(info["host"])
        dialog.get_by_label("Port", exact=True).fill(info["port"])
        dialog.get_by_label("User name", exact=True).fill(info["username"])
        dialog.get_by_label("Password", exact=True).fill(info["password"])
        dialog.get_by_label("Certificate thumbprint", exact=True).fill(info["sha256_thumbprint"])
        dialog.get_by_role("button", name="Add vCenter").click()
        row = page.locator("tr").filter(has=page.get_by_role("rowheader", name="vcsim"))
        expect(row).to_contain_text("pinned")
        row.get_by_role("button", name="Test").click()
        expect(row.locator(".ok")).to_have_text(re.compile(r"OK: \d+ VMs"), timeout=20_000)
        shot(page, "vcenters")

        page.get_by_role("link", name="Virtual Machines").click()
        page.get_by_role("button", name="Discover VMs").click()
        dialog = page.get_by_role("dialog", name="Discover VMs")
        dialog.get_by_label("vCenter", exact=True).select_option(label=f"vcsim ({info['host']})")
        dialog.get_by_label("Name filter", exact=True).fill("*VM1")
        dialog.get_by_role("button", name="Discover").click()
        expect(dialog.get_by_role("status")).to_contain_text(re.compile(r"\d+ VMs? found in \d+ ms"))
        found = dialog.locator("tbody tr")
        expect(found.first).to_be_visible()
        count = found.count()
        assert count >= 1 and all(name.endswith("VM1") for name in found.get_by_role("rowheader").all_inner_texts()), count
        shot(page, "discover")
        dialog.get_by_role("button", name="Add selected").click()
        expect(page.locator("#content").get_by_role("status")).to_contain_text(f"Added {count} VM{'' if count == 1 else 's'}: ")
        expect(page.locator("tbody tr")).to_have_count(3 + count)
    finally:
        stop_vcsim(simulator)

    # Add a QEMU image VM: a missing file is refused in words, a real one is listed.
    page.get_by_role("button", name="Add QEMU VM").click()
    dialog = page.get_by_role("dialog", name="Add a QEMU image VM")
    dialog.get_by_label("VM name", exact=True).fill("lab1")
    dialog.get_by_label("Disk 1 path", exact=True).fill(os.path.join(work, "missing.qcow2"))
    dialog.get_by_role("button", name="Add VM").click()
    expect(dialog.get_by_role("alert")).to_contain_text("missing.qcow2")
    image = os.path.join(work, "lab1.qcow2")
    run_tool("qemu-img", "create", "-q", "-f", "qcow2", image, "8M")
    dialog.get_by_label("Disk 1 path", exact=True).fill(image)
    dialog.get_by_role("button", name="Add VM").click()
    expect(page.locator("#content").get_by_role("status")).to_have_text("Added lab1.")
    expect(page.get_by_role("rowheader", name="lab1")).to_be_visible()

    # This machine's libvirt: a (stopped) domain discovered and added; its disk listed with its size.
    domain = start_libvirt_domain(work)
    try:
        page.get_by_role("button", name="Discover libvirt").click()
        dialog = page.get_by_role("dialog", name="Discover libvirt domains")
        # Any libvirt URI can be typed; one the hub does not accept says what it does.
        dialog.get_by_label("libvirt", exact=True).fill("qemu+tcp://kvm1/system")
        dialog.get_by_role("button", name="Discover").click()
        expect(dialog.get_by_role("status")).to_contain_text("qemu+ssh://[user@]host[:port]/system")
        dialog.get_by_label("libvirt", exact=True).fill("qemu:///system")
        dialog.get_by_label("Name filter", exact=True).fill(domain)
        dialog.get_by_role("button", name="Discover").click()
        expect(dialog.get_by_role("status")).to_contain_text(re.compile(r"1 domain found in \d+ ms"))
        row = dialog.locator("tbody tr").filter(has=page.get_by_role("rowheader", name=domain))
        expect(row).to_contain_text("poweredOff")
        expect(row).to_contain_text("vda 16.0 MiB")
        shot(page, "discover-libvirt")
        dialog.get_by_role("button", name="Add selected").click()
        expect(page.locator("#content").get_by_role("status")).to_contain_text(f"Added 1 VM: {domain}.")
        expect(page.get_by_role("rowheader", name=domain)).to_be_visible()
    finally:
        subprocess.run(["virsh", "-c", "qemu:///system", "undefine", domain], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    # A running QEMU by its QMP socket: a dead socket is refused in words, a live one is added.
    qemu, socket_path = start_qmp_vm(work)
    try:
        page.get_by_role("button", name="Add running QEMU").click()
        dialog = page.get_by_role("dialog", name="Add a running QEMU")
        dialog.get_by_label("VM name", exact=True).fill("pve-101")
        dialog.get_by_label("QMP socket", exact=True).fill(os.path.join(work, "nothing.qmp"))
        dialog.get_by_role("button", name="Add VM").click()
        expect(dialog.get_by_role("alert")).to_contain_text("nothing.qmp")
        dialog.get_by_label("QMP socket", exact=True).fill(socket_path)
        # A guest agent socket that cannot be connected is refused too.
        dialog.get_by_label("Guest agent socket", exact=True).fill(os.path.join(work, "nothing.qga"))
        dialog.get_by_role("button", name="Add VM").click()
        expect(dialog.get_by_role("alert")).to_contain_text("nothing.qga")
        dialog.get_by_label("Guest agent socket", exact=True).fill("")
        dialog.get_by_role("button", name="Add VM").click()
        expect(page.locator("#content").get_by_role("status")).to_have_text("Added pve-101: it is backed up live.")
        expect(page.get_by_role("rowheader", name="pve-101")).to_be_visible()
    finally:
        qemu.kill()
        qemu.wait()

    # Protection: a group, then a flow on it, run now, its executions.
    page.get_by_role("link", name="Protection").click()
    expect(page.get_by_text("No protection flow yet")).to_be_visible()
    page.get_by_role("button", name="New group").click()
    dialog = page.get_by_role("dialog", name="New protection group")
    dialog.get_by_label("Name", exact=True).fill("web-tier")
    dialog.get_by_label("web", exact=True).check()
    dialog.get_by_label("db", exact=True).check()
    dialog.get_by_role("button", name="Create group").click()
    expect(page.get_by_role("rowheader", name="web-tier")).to_be_visible()
    page.get_by_role("button", name="New flow").click()
    dialog = page.get_by_role("dialog", name="New protection flow")
    dialog.get_by_label("Name", exact=True).fill("nightly")
    dialog.get_by_label("Protects", exact=True).select_option("group")
    dialog.get_by_label("Schedule", exact=True).fill("not a schedule")
    dialog.get_by_label("Last", exact=True).fill("3")
    dialog.get_by_role("button", name="Create flow").click()
    expect(dialog.get_by_role("alert")).to_contain_text("schedule")
    dialog.get_by_label("Schedule", exact=True).fill("0 2 * * *")
    dialog.get_by_role("button", name="Create flow").click()
    row = page.locator("tr").filter(has_text="nightly")
    expect(row).to_contain_text("group web-tier (2)")
    expect(row).to_contain_text("last 3")
    row.get_by_role("button", name="Run now").click()
    expect(page.get_by_role("status")).to_contain_text("nightly started")
    row.get_by_role("button", name="Executions").click()
    dialog = page.get_by_role("dialog", name="Executions of nightly")
    expect(dialog.get_by_role("rowheader", name="db")).to_be_visible()
    expect(dialog.locator(".executions > li")).to_have_count(1, timeout=20_000)
    shot(page, "flow-executions")
    page.keyboard.press("Escape")
    shot(page, "flows")

    # Users: add an operator.
    page.get_by_role("link", name="Users").click()
    page.get_by_role("button", name="Add user").click()
    dialog = page.get_by_role("dialog", name="Add a user")
    dialog.get_by_label("User name", exact=True).fill("olga")
    dialog.get_by_label("Password", exact=True).fill("operator-password")
    dialog.get_by_label("Role", exact=True).select_option("operator")
    dialog.get_by_role("button", name="Add user").click()
    expect(page.get_by_role("rowheader", name="olga")).to_be_visible()
    shot(page, "users")
    # And delete her again: confirmed, gone, said.
    page.get_by_role("row", name=re.compile(r"^olga ")).get_by_role("button", name="Delete").click()
    page.get_by_role("dialog", name="Delete user").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status").first).to_have_text("Deleted olga.")
    expect(page.get_by_role("rowheader", name="olga")).to_have_count(0)
    assert "olga" not in [user["username"] for user in api(url, "/users", token=token)[0]["users"]]


def whole_vm(page, url, token, work):
    """A libvirt domain's restore point: restored as a new domain (its disk the point's, bit for bit; bad input
    refused in words), then run from the backup (instant recovery) and stopped on the Recoveries page."""
    domain = start_libvirt_domain(work, f"e2e-vm-{os.getpid()}")
    disk = os.path.join(work, f"{domain}.qcow2")
    run_tool("qemu-io", "-f", "qcow2", "-c", "write -P 0x3c 1M 2M", disk)
    restored, recovered = domain + "-restored", domain + "-dr"
    folder = os.path.join(work, "vm-restores")
    os.mkdir(folder)
    try:
        api(url, "/discovery/libvirt/add-vms", token=token, method="POST", body={"uri": "qemu:///system", "domains": [domain]})
        started, _ = api(url, "/backups", token=token, method="POST", body={"vm_name": domain, "repository_id": "1", "backup_type": "full"})
        backup = wait_backup(url, token, started["backup_id"])
        assert backup["status"] == "completed", backup
        page.goto(url + f"/#restore/{backup['backup_id']}")
        form = page.get_by_role("form", name="Restore the VM")
        expect(form).to_be_visible()
        # A folder that does not exist: refused in the hub's words, nothing made.
        form.get_by_label("New domain name", exact=True).fill(restored)
        form.get_by_label("Disks into folder", exact=True).fill(folder + "/missing")
        form.get_by_role("button", name="Restore VM").click()
        expect(form.get_by_role("alert")).to_contain_text("does not exist")
        form.get_by_label("Disks into folder", exact=True).fill(folder)
        form.get_by_role("button", name="Restore VM").click()
        expect(form.get_by_role("status")).to_contain_text(f"Domain {restored} defined: {folder}/{restored}-vda.qcow2", timeout=30000)
        shot(page, "restore-vm")
        restored_disk = os.path.join(folder, f"{restored}-vda.qcow2")
        subprocess.run(["qemu-img", "compare", "-q", restored_disk, disk], check=True)
        state = subprocess.run(["virsh", "-c", "qemu:///system", "domstate", restored], capture_output=True, text=True)
        assert state.stdout.startswith("shut off"), state
        # Into vCenter: this point is a libvirt domain's, with no VMware hardware kept: refused in the hub's words.
        into = page.get_by_role("form", name="Restore into vCenter")
        into.get_by_label("Datastore", exact=True).fill("datastore1")
        into.get_by_role("button", name="Restore into vCenter").click()
        expect(into.get_by_role("alert")).to_contain_text("holds no VMware VM configuration")

        # Instant recovery: the VM runs from the backup; the Recoveries page lists it and stops it.
        run = page.get_by_role("form", name="Instant recovery")
        run.get_by_label("Domain name", exact=True).fill(recovered)
        run.get_by_label("NICs", exact=True).select_option("none")
        run.get_by_role("button", name="Start instant recovery").click()
        expect(run.get_by_role("status")).to_contain_text(f"Domain {recovered} runs from this backup.", timeout=30000)
        run.get_by_role("link", name="Manage it on the Recoveries page").click()
        row = page.locator("tbody tr").filter(has=page.get_by_role("rowheader", name=recovered))
        expect(row).to_contain_text("running (VM running)")
        # Its screen, captured by libvirt, shows below the table.
        screen = page.get_by_role("img", name=f"The screen of {recovered}")
        expect(screen).to_be_visible(timeout=15000)
        page.wait_for_function("(image) => image.naturalWidth > 100", arg=screen.element_handle(), timeout=15000)
        shot(page, "recoveries")
        # Migrate asks where to; a folder of the hub's is refused in the dialog, in words.
        row.get_by_role("button", name="Migrate").click()
        dialog = page.get_by_role("dialog", name=f"Migrate {recovered}")
        dialog.get_by_label("Folder", exact=True).fill(os.path.join(work, "data"))
        dialog.get_by_role("button", name="Copy and switch").click()
        expect(dialog.get_by_role("alert")).to_contain_text("belongs to the hub")
        dialog.get_by_role("button", name="Close").click()
        row.get_by_role("button", name="Stop").click()
        page.get_by_role("dialog").get_by_role("button", name="Stop").click()
        expect(page.locator("#content").get_by_role("status")).to_have_text(f"Stopped {recovered}.")
        expect(row).to_contain_text("stopped")
        state = subprocess.run(["virsh", "-c", "qemu:///system", "domstate", recovered], capture_output=True, text=True)
        assert state.returncode != 0, state
        # The session is a job too.
        page.get_by_role("link", name="Jobs").click()
        page.get_by_label("Job type").select_option("recovery")
        expect(page.locator("tbody tr").first).to_contain_text("completed")

        # A boot check (asked through the API with a short timeout: this disk boots nothing) shows on the point
        # with the reason and the screen it left, and on the chain as a badge.
        check, _ = api(url, f"/backups/{backup['backup_id']}/boot-check", token=token, method="POST", body={"timeout_seconds": 10})
        for _ in range(300):
            check, _ = api(url, f"/boot-checks/{check['check_id']}", token=token)
            if check["status"] != "running":
                break
            time.sleep(0.2)
        assert check["status"] == "failed" and check["screenshot_url"], check
        page.goto(url + f"/#restore/{backup['backup_id']}")
        expect(page.get_by_text("Failed: no heartbeat within 10 s")).to_be_visible()
        screen = page.get_by_role("img", name=re.compile("The guest's screen"))
        expect(screen).to_be_visible()
        assert page.evaluate("(image) => image.naturalWidth", screen.element_handle()) > 100
        shot(page, "boot-check")
        page.goto(url + f"/#backups/{domain}")
        expect(page.locator(".timeline li").first.get_by_text("boot failed")).to_be_visible()
    finally:
        for name in (recovered, restored, domain):
            subprocess.run(["virsh", "-c", "qemu:///system", "destroy", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run(["virsh", "-c", "qemu:///system", "undefine", name, "--nvram"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def error_paths(page, url):
    base = url + "/"
    # A network failure: the page says so in words and Retry works once the hub answers again.
    page.route("**/api/v1/repositories", lambda route: route.abort())
    page.goto(base + "#repositories")
    expect(page.get_by_role("alert")).to_contain_text("The hub cannot be reached")
    shot(page, "error-network")
    page.unroute("**/api/v1/repositories")
    page.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("heading", name="Repositories")).to_be_visible()
    # No Chart.js on the hub: the charts say so plainly.
    page.route("**/vendor/chart.js", lambda route: route.fulfill(status=404, body=""))
    page.goto(base + "#vm/web/analytics")
    page.reload()  # a fresh page: the loaded Chart.js is kept for the page's life
    expect(page.get_by_role("dialog", name="web")).to_contain_text("Charts are unavailable")
    page.unroute("**/vendor/chart.js")
    # Things that do not exist.
    page.goto(base + "#restore/backup-that-does-not-exist")
    expect(page.get_by_role("alert")).to_contain_text("backup not found")
    page.goto(base + "#backups/no-such-vm")
    expect(page.get_by_role("alert")).to_contain_text("VM not found: no-such-vm")
    page.goto(base + "#progress/backup-that-does-not-exist")
    expect(page.get_by_role("alert")).to_contain_text("backup not found")


def narrow_screens(page):
    page.set_viewport_size({"width": 390, "height": 844})
    for name in PAGES:
        page.goto(page.url.split("#")[0] + "#" + name)
        expect(page.locator("#content h1")).to_be_visible()
        expect(page.locator("#content")).not_to_contain_text("Loading…")
        shot(page, f"{name}-390")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{name} is {width} px wide on a 390 px screen"
    page.set_viewport_size({"width": 1280, "height": 800})


def run(url, password, work, data):
    served_files(url)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800}, accept_downloads=True)
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))

        sign_in(page, url, password)
        token = page.evaluate("sessionStorage.getItem('sendense.token')")
        make_data_vm(url, token, work, "web")
        make_data_vm(url, token, work, "db", size="32M", data="1M")
        files = make_files_vm(url, token, work)
        vm_list(page)
        full_id = backup_now_with_live_progress(page, url, token, data)
        history_and_incremental(page, url, token, data)
        machine_details(page, full_id)
        file_restore(page, url, token, files, work)
        other_pages(page, url, token, work)
        whole_vm(page, url, token, work)
        error_paths(page, url)
        narrow_screens(page)

        # Still signed in after a reload (the token lives in sessionStorage).
        page.goto(url + "/#dashboard")
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        shot(page, "dashboard-after")
        # A revoked token anywhere brings the login back, saying why.
        api(url, "/auth/logout", token=page.evaluate("sessionStorage.getItem('sendense.token')"), method="POST")
        page.reload()
        expect(page.get_by_role("alert")).to_have_text("Your session ended: please sign in again.")
        page.get_by_label("Password", exact=True).fill(password)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("form", name="Sign in")).to_be_visible()
        assert page.evaluate("sessionStorage.getItem('sendense.token')") is None
        assert not errors, errors
        browser.close()


if __name__ == "__main__":
    main()
