"""What the fault and contract tests require of a hub after the fact: points that restore bit for
bit, a repository without half-written files, no process outliving the run."""
import os
import pathlib
import subprocess
import time

from hub import api


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def half_written(repository):
    """Files and folders of the repository a finished or recovered job must not leave."""
    found = []
    for folder, directories, files in os.walk(repository):
        found += [os.path.join(folder, name) for name in directories + files if name.endswith((".partial", ".merging", ".deleting"))]
    return found


def processes_naming(folder, excluding=()):
    """Processes (other than this one and `excluding`) whose command line names `folder`:
    NBD servers, file-restore workers, mounts a hub started there."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = pathlib.Path("/proc", pid, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if folder in command and int(pid) not in (os.getpid(), *excluding):
            found.append(f"{pid}: {command[:160]}")
    return found


def restores_as(url, token, work, backup_id, expected_raw):
    """Restores disk 0 of the point to a raw file in `work` and compares it with `expected_raw`."""
    out = os.path.join(work, f"restored-{backup_id}-{time.monotonic_ns()}.raw")
    started, _ = api(url, "/restore/disk", token=token, method="POST",
                     body={"backup_id": backup_id, "disk_index": 0, "target": {"type": "file", "path": out, "format": "raw"}})
    for _ in range(600):
        state, _ = api(url, "/restore/disk/" + started["job_id"], token=token)
        if state["status"] not in ("queued", "running", "started", "in_progress"):
            break
        time.sleep(0.1)
    expect(state["status"] == "completed", f"restore of {backup_id}: {state}")
    compare = subprocess.run(["qemu-img", "compare", "-q", "-f", "raw", "-F", "raw", out, expected_raw])
    os.remove(out)
    expect(compare.returncode == 0, f"{backup_id} does not restore as the disk was")


def verifies(url, token, backup_id):
    report, _ = api(url, f"/backups/{backup_id}/verify", token=token, method="POST")
    expect(report["status"] == "ok", f"verify of {backup_id}: {report}")
