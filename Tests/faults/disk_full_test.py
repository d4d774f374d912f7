#!/usr/bin/env python3
"""A repository that fills up, mid-backup and mid-merge, on a real filesystem.

The repository lies on a 160 MiB ext4 image mounted with fuse2fs (FUSE: no loop device, no kernel
mount). A ballast file leaves too little room; then:
  - an incremental backup fails with "repository full", leaves no .partial, and the earlier
    point still verifies and restores bit for bit;
  - with the ballast gone, the next backup succeeds and restores bit for bit;
  - a retention prune whose merge does not fit fails with 507 "repository full", leaves no
    .merging, and both points still restore; with room again the prune succeeds.
Run by `make test`; exits non-zero on the first failed expectation."""
import os
import pathlib
import subprocess
import sys
import tempfile
import urllib.error

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "harness"))
from checks import expect, half_written, restores_as, verifies  # noqa: E402
from hub import admin_password, api, login, make_data_vm, run_tool, start_hub, wait_backup  # noqa: E402


def free_bytes(path):
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def fill(path, leave):
    """A ballast file that leaves about `leave` bytes free."""
    ballast = os.path.join(path, "ballast")
    size = max(0, free_bytes(path) - leave)
    with open(ballast, "wb") as out:
        chunk = os.urandom(1 << 20)
        while size > 0:
            out.write(chunk[:min(size, len(chunk))])
            size -= len(chunk)
        out.flush()
        os.fsync(out.fileno())
    return ballast


def main():
    work = tempfile.mkdtemp(prefix="sendense-diskfull-")
    mount = os.path.join(work, "fs")
    os.mkdir(mount)
    image = os.path.join(work, "fs.img")
    run_tool("truncate", "-s", "160M", image)
    run_tool("mkfs.ext4", "-q", "-F", "-m", "0", image)
    run_tool("fuse2fs", image, mount, "-o", "fakeroot")
    hub = None
    try:
        hub, url = start_hub(os.path.join(work, "data"), os.path.join(work, "hub.log"))
        token = login(url, admin_password(os.path.join(work, "data")))
        repository_path = os.path.join(mount, "repo")
        repository, _ = api(url, "/repositories", token=token, method="POST",
                            body={"name": "small", "type": "local", "path": repository_path})
        repo_id = repository["id"]
        disk = make_data_vm(url, token, work, "vm", size="96M", data="12M")

        def snapshot(name):
            raw = os.path.join(work, name + ".raw")
            run_tool("qemu-img", "convert", "-q", "-O", "raw", disk, raw)
            return raw

        def backup():
            started, _ = api(url, "/backups", token=token, method="POST",
                             body={"vm_name": "vm", "repository_id": repo_id, "backup_type": "incremental"})
            return wait_backup(url, token, started["backup_id"])

        first = backup()
        expect(first["status"] == "completed", f"first backup: {first}")
        first_raw = snapshot("first")

        # 40 MiB of new data against ~24 MiB of room: the incremental cannot fit.
        with open(os.path.join(work, "new.bin"), "wb") as new:
            new.write(os.urandom(40 << 20))
        run_tool("qemu-io", "-f", "qcow2", "-c", f"write -s {os.path.join(work, 'new.bin')} 40M 40M", disk)
        ballast = fill(mount, 24 << 20)
        failed = backup()
        message = failed.get("error_message") or ""
        expect(failed["status"] == "failed" and "repository full" in message, f"backup into a full repository: {failed}")
        expect(not half_written(repository_path), f"left behind: {half_written(repository_path)}")
        verifies(url, token, first["backup_id"])
        restores_as(url, token, work, first["backup_id"], first_raw)
        print(f"disk full: mid-backup -> failed ({message[:120]}), nothing left, the earlier point restores")

        os.remove(ballast)
        second = backup()
        expect(second["status"] == "completed", f"backup after space was freed: {second}")
        second_raw = snapshot("second")
        restores_as(url, token, work, second["backup_id"], second_raw)
        print("disk full: with room again the next backup succeeds and restores bit for bit")

        # Keep only the newest point: the full is merged into it, which needs room for the whole merged image (~52 MiB) before the old ones go.
        flow, _ = api(url, "/protection-flows", token=token, method="POST",
                      body={"name": "keep-one", "target_type": "vm", "target_id": "vm", "repository_id": repo_id,
                            "schedule": "0 3 * * *", "enabled": False, "retention": {"keep_last": 1}})
        ballast = fill(mount, 8 << 20)
        try:
            api(url, f"/protection-flows/{flow['id']}/prune", token=token, method="POST", body={"dry_run": False})
            raise AssertionError("a prune whose merge does not fit succeeded")
        except urllib.error.HTTPError as error:
            body = error.read().decode()
            expect(error.code == 507 and "repository full" in body, f"prune into a full repository: {error.code} {body}")
        expect(not half_written(repository_path), f"left behind: {half_written(repository_path)}")
        chain, _ = api(url, f"/backups/chain?vm_name=vm&repository_id={repo_id}", token=token)
        expect([point["backup_id"] for point in chain["chain"]] == [first["backup_id"], second["backup_id"]], f"chain: {chain}")
        for point, raw in ((first, first_raw), (second, second_raw)):
            verifies(url, token, point["backup_id"])
            restores_as(url, token, work, point["backup_id"], raw)
        print("disk full: mid-merge -> 507, nothing left, both points restore")

        os.remove(ballast)
        pruned, _ = api(url, f"/protection-flows/{flow['id']}/prune", token=token, method="POST", body={"dry_run": False})
        expect(pruned["results"][0]["removed"] == [first["backup_id"]], f"prune with room: {pruned}")
        verifies(url, token, second["backup_id"])
        restores_as(url, token, work, second["backup_id"], second_raw)
        check = subprocess.run(["qemu-img", "check", "-q", os.path.join(repository_path, "vms", "vm", second["backup_id"], "disk-0.qcow2")])
        expect(check.returncode == 0, "qemu-img check of the merged image")
        expect(not half_written(repository_path), f"left behind: {half_written(repository_path)}")
        print("disk full: with room again the prune merges, and the kept point restores bit for bit")
        expect(hub.poll() is None, "the hub exited")
    except BaseException:
        log = pathlib.Path(work, "hub.log")
        if log.exists():
            print("disk full: the hub's log ends:\n" + "\n".join(log.read_text().splitlines()[-25:]), file=sys.stderr)
        raise
    finally:
        if hub is not None:
            hub.terminate()
            try:
                hub.wait(timeout=15)
            except subprocess.TimeoutExpired:
                hub.kill()
        subprocess.run(["fusermount", "-u", mount])
        subprocess.run(["rm", "-rf", work])
    print("disk full: passed")


if __name__ == "__main__":
    main()
