"""A hub for the Python tests (GUI end to end, API contract): the built `sendense` binary on a
fresh data dir and a free loopback port, the JSON API, and VMs made of real disk images."""
import json
import os
import pathlib
import re
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = os.environ.get("SENDENSE_BINARY", str(ROOT / ".build" / "debug" / "sendense"))


def start_hub(data_dir, log_path=None):
    """The hub on a free port of 127.0.0.1; answers (process, base URL). Its log goes to `log_path`
    when given (it is read as it comes, so the hub never blocks on a full pipe)."""
    hub = subprocess.Popen([BINARY, "hub", "--data-dir", data_dir, "--port", "0", "--bind", "127.0.0.1",
                            "--telemetry-seconds", "1"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = open(log_path, "w") if log_path else None
    deadline = time.time() + 30
    url = None
    while time.time() < deadline and url is None:
        line = hub.stderr.readline()
        if not line:
            break
        if log:
            log.write(line)
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if match:
            url = match.group(1)
    if url is None:
        hub.kill()
        sys.exit("the hub did not start")

    def drain():
        for line in hub.stderr:
            if log:
                log.write(line)
                log.flush()
    threading.Thread(target=drain, daemon=True).start()
    return hub, url


def admin_password(data_dir):
    return pathlib.Path(data_dir, "admin-password").read_text().strip()


def login(url, password, seconds=None):
    """A token of the admin account (for `seconds` when given, else the hub's default lifetime)."""
    body = {"username": "admin", "password": password}
    if seconds:
        body["expires_in_seconds"] = seconds
    answer, _ = api(url, "/auth/login", method="POST", body=body)
    return answer["token"]


def api(url, path, token=None, method="GET", body=None):
    request = urllib.request.Request(url + "/api/v1" + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(request) as response:
        text = response.read()
        return json.loads(text) if text else None, response.headers


def wait_backup(url, token, backup_id):
    for _ in range(600):
        state, _ = api(url, "/backups/" + backup_id, token=token)
        if state["status"] not in ("started", "in_progress"):
            return state
        time.sleep(0.1)
    raise AssertionError("backup did not end: " + backup_id)


def run_tool(*command):
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def make_data_vm(url, token, work, name, size="64M", data="24M"):
    """A qcow2 disk with `data` of random bytes (so a backup takes a moment)."""
    image = os.path.join(work, name + ".qcow2")
    raw = os.path.join(work, name + ".seed")
    with open(raw, "wb") as seed:
        seed.write(os.urandom(int(data[:-1]) << 20))
    run_tool("truncate", "-s", size, raw)
    run_tool("qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw, image)
    os.remove(raw)
    api(url, "/vm-contexts", token=token, method="POST",
        body={"vm_name": name, "source": {"type": "qemu_image", "disks": [{"path": image, "label": "vda"}]}})
    return image


def make_files_vm(url, token, work):
    """An ext4 disk with a tree three folders deep; answers {relative path: bytes}."""
    tree = pathlib.Path(work, "tree")
    deep = tree / "projects" / "2026" / "q4"
    deep.mkdir(parents=True)
    files = {
        "projects/2026/q4/report.txt": b"quarterly report\n" * 100,
        "projects/2026/q4/data.bin": os.urandom(300_000),
        "projects/2026/q4/notes.md": "# Notes ünïcödé\n".encode(),
        "projects/2026/plan.txt": b"plan\n",
        "readme.txt": b"top level\n",
    }
    for relative, content in files.items():
        (tree / relative).write_bytes(content)
    raw = os.path.join(work, "fs.raw")
    run_tool("mkfs.ext4", "-q", "-F", "-b", "4096", "-d", str(tree), raw, "32M")
    image = os.path.join(work, "files.qcow2")
    run_tool("qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw, image)
    os.remove(raw)
    api(url, "/vm-contexts", token=token, method="POST",
        body={"vm_name": "files", "source": {"type": "qemu_image", "disks": [{"path": image, "label": "vda"}]}})
    return files
