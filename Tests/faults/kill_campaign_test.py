#!/usr/bin/env python3
"""Kill campaign: the hub killed with SIGKILL at random moments, over and over.

Each of KILL_CYCLES cycles (default 20; KILL_SEED repeats a run) changes the VM's disk, starts a
backup or a retention prune (which merges), kills -9 the hub at a random moment, and starts it
again on the same data dir. After every restart: no .partial/.merging/.deleting stays once
start-up recovery has run, no backup is left running, no process of the killed hub survives.
At the end every completed point restores bit for bit to the disk as it was when that point was
taken, `qemu-img check` passes on every image, and one more backup succeeds. Run by `make test`."""
import os
import pathlib
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "harness"))
from hub import admin_password, api, login, make_data_vm, run_tool, start_hub, wait_backup  # noqa: E402
from checks import expect, half_written, processes_naming, restores_as  # noqa: E402


def settled(url, token, repository, work, hub_pid):
    """Waits for start-up recovery: nothing running, nothing half-written, no stray process."""
    deadline = time.time() + 20
    while True:
        jobs, _ = api(url, "/jobs?limit=200", token=token)
        running = [job for job in jobs["jobs"] if job["status"] == "running"]
        left = half_written(repository)
        strays = processes_naming(work, excluding=(hub_pid,))
        if not running and not left and not strays:
            return
        if time.time() > deadline:
            raise AssertionError(f"after restart: running {running}, left {left}, processes {strays}")
        time.sleep(0.2)


def main():
    cycles = int(os.environ.get("KILL_CYCLES", "20"))
    seed = int(os.environ.get("KILL_SEED", str(random.randrange(1 << 32))))
    print(f"kill campaign: {cycles} cycles, seed {seed} (KILL_SEED={seed} repeats the choices)", flush=True)
    rng = random.Random(seed)
    work = tempfile.mkdtemp(prefix="sendense-kill-")
    data = os.path.join(work, "data")
    repository = os.path.join(data, "repository")
    truths = {}  # backup id -> raw copy of the disk when it was taken
    hub, url = start_hub(data, os.path.join(work, "hub.log"))
    try:
        token = login(url, admin_password(data))
        disk = make_data_vm(url, token, work, "vm", size="48M", data="8M")
        flow, _ = api(url, "/protection-flows", token=token, method="POST",
                      body={"name": "retention", "target_type": "vm", "target_id": "vm", "repository_id": "1",
                            "schedule": "0 3 * * *", "enabled": False, "retention": {"keep_last": 3}})
        kills = {"backup": 0, "prune": 0}
        outcomes = {}  # how the killed backups ended: completed before the kill, or failed by it
        for cycle in range(cycles):
            # The guest changes its disk: data, zeroes, discards (never while a backup reads it).
            commands = []
            for _ in range(rng.randrange(1, 5)):
                kind = rng.random()
                size = rng.randrange(1, 64) << 16 if kind < 0.7 else 512 << 10 if kind < 0.85 else 256 << 10
                offset = rng.randrange(0, ((48 << 20) - size) >> 16) << 16
                commands += ["-c", f"write -P {rng.randrange(1, 256)} {offset} {size}" if kind < 0.7
                             else f"write -z {offset} {size}" if kind < 0.85 else f"discard {offset} {size}"]
            run_tool("qemu-io", "-f", "qcow2", *commands, disk)
            chain, _ = api(url, "/backups/chain?vm_name=vm&repository_id=1", token=token)
            points = len(chain["chain"])
            action = "prune" if points >= 2 and rng.random() < 0.4 else "backup"
            if action == "backup":
                raw = os.path.join(work, f"truth-{cycle}.raw")
                run_tool("qemu-img", "convert", "-q", "-O", "raw", disk, raw)
                started, _ = api(url, "/backups", token=token, method="POST",
                                 body={"vm_name": "vm", "repository_id": "1", "backup_type": "incremental"})
                truths[started["backup_id"]] = raw
            else:
                # Keep fewer than there are: the prune removes, and merges into the kept ones.
                api(url, f"/protection-flows/{flow['id']}", token=token, method="PUT",
                    body={"retention": {"keep_last": rng.randrange(1, points)}})

                def prune():
                    try:
                        api(url, f"/protection-flows/{flow['id']}/prune", token=token, method="POST", body={"dry_run": False})
                    except (urllib.error.URLError, ConnectionError, OSError):
                        pass  # the hub was killed under it
                threading.Thread(target=prune, daemon=True).start()
            # Log-uniform from 1 ms to 2 s: inside a backup or merge, or after it (so chains grow).
            time.sleep(10 ** rng.uniform(-3, 0.3))
            hub.kill()
            hub.wait()
            kills[action] += 1
            hub, url = start_hub(data, os.path.join(work, f"hub-{cycle}.log"))
            token = login(url, admin_password(data))
            settled(url, token, repository, work, hub.pid)
            if action == "backup":
                state, _ = api(url, "/backups/" + started["backup_id"], token=token)
                outcomes[state["status"]] = outcomes.get(state["status"], 0) + 1
                expect(state["status"] in ("completed", "failed"), f"a killed backup is {state['status']}")

        chain, _ = api(url, "/backups/chain?vm_name=vm&repository_id=1", token=token)
        points = [point["backup_id"] for point in chain["chain"]]  # the chain holds completed points only
        expect(points, "no point survived the campaign")
        for backup_id in points:
            image = os.path.join(repository, "vms", "vm", backup_id, "disk-0.qcow2")
            check = subprocess.run(["qemu-img", "check", "-q", image], capture_output=True, text=True)
            expect(check.returncode == 0, f"qemu-img check {backup_id}: {check.stdout}{check.stderr}")
            restores_as(url, token, work, backup_id, truths[backup_id])
        final, _ = api(url, "/backups", token=token, method="POST",
                       body={"vm_name": "vm", "repository_id": "1", "backup_type": "incremental"})
        expect(wait_backup(url, token, final["backup_id"])["status"] == "completed", "the backup after the campaign failed")
        print(f"kill campaign: {kills['backup']} kills during backups (then {outcomes}), {kills['prune']} during prunes; "
              f"{len(points)} points restore bit for bit; the next backup succeeds")
    except BaseException:
        print(f"kill campaign: failed with seed {seed}; the last hub's log ends:", file=sys.stderr)
        logs = sorted(pathlib.Path(work).glob("hub*.log"), key=os.path.getmtime)
        if logs:
            print("\n".join(logs[-1].read_text().splitlines()[-25:]), file=sys.stderr)
        raise
    finally:
        hub.kill()
        hub.wait()
        subprocess.run(["rm", "-rf", work])
    print("kill campaign: passed")


if __name__ == "__main__":
    main()
