#!/usr/bin/env python3
"""The hub held to its own OpenAPI document by Schemathesis, a client nobody here wrote.

A hub on a fresh data dir gets a catalog worth exploring (a VM with an ext4 disk, a full backup,
an open file-restore session, a group, a flow, a second user); then `st run` is given the
document the hub serves and sends what it allows and what it forbids, with every check on and
the stateful phase following the document's links: the examples and the coverage phase (the same
cases whatever the seed), then fuzzing and the stateful walk, with the fixed seed (`make test`: a CI
run must not hinge on luck), or a random one printed so a failure can be replayed
(CONTRACT_SEED=random, as `make contract` does; =N replays). Afterwards the
hub must still answer and have left no process behind. Exits non-zero on any failure of any check.

CONTRACT_SECONDS is split between fuzzing (two thirds) and the stateful walk (default 180: about six
minutes in all, the coverage phase taking about two and a half whatever the bound);
`make contract CONTRACT_SECONDS=1800` runs longer. Reports go to test-output/contract/."""
import os
import pathlib
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "harness"))
from checks import processes_naming  # noqa: E402
from hub import ROOT, admin_password, api, login, make_files_vm, start_hub, wait_backup  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
OUT = ROOT / "test-output" / "contract"
FIXED_SEED = 20261204
LOGOUT_TOKENS = 40


def seed_catalog(url, token, work):
    """What a stateful client needs to reach deep routes: ids that exist."""
    make_files_vm(url, token, work)
    backup, _ = api(url, "/backups", token, "POST", {"vm_name": "files", "repository_id": "1", "backup_type": "full"})
    state = wait_backup(url, token, backup["backup_id"])
    assert state["status"] == "completed", state
    api(url, "/restore/mount", token, "POST", {"backup_id": backup["backup_id"], "disk_index": 0})
    group, _ = api(url, "/protection-groups", token, "POST", {"name": "contract", "vm_names": ["files"]})
    api(url, "/protection-flows", token, "POST", {"name": "nightly", "target_type": "group", "target_id": group["id"],
                                                   "repository_id": "1", "schedule": "0 2 * * *", "enabled": False})
    api(url, "/users", token, "POST", {"username": "viewer", "password": "contract-viewer", "role": "viewer"})


def schemathesis(document, url, seed, seconds, env, report, phases):
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(HERE / "schemathesis.toml"),
               "run", str(document), "--url", url + "/api/v1", "--seed", str(seed), "--max-time", str(seconds),
               "--phases", phases, "--report", "junit", "--report-junit-path", str(report)]
    print("$", " ".join(command), flush=True)
    return subprocess.run(command, env=env).returncode


def main():
    seconds = int(os.environ.get("CONTRACT_SECONDS", "180"))
    # `make test` repeats the fixed seed (a CI run must not hinge on luck); `make contract` and
    # CONTRACT_SEED=random add a random one, CONTRACT_SEED=N replays one.
    asked = os.environ.get("CONTRACT_SEED", str(FIXED_SEED))
    other_seed = random.randrange(1, 2**31) if asked == "random" else int(asked)
    OUT.mkdir(parents=True, exist_ok=True)
    failed = []
    with tempfile.TemporaryDirectory(prefix="sendense-contract-") as work:
        data = os.path.join(work, "data")
        hub, url = start_hub(data, log_path=str(OUT / "hub.log"))
        try:
            password = admin_password(data)
            token = login(url, password, seconds=86400)
            me, _ = api(url, "/auth/me", token)
            seed_catalog(url, token, work)
            logout_tokens = [login(url, password) for _ in range(LOGOUT_TOKENS)]
            api(url, "/auth/logout", logout_tokens[0], "POST")  # the first stays revoked: hooks hand it out when the rest are spent
            request = urllib.request.Request(url + "/api/v1/openapi.yaml", headers={"Authorization": "Bearer " + token})
            document = pathlib.Path(work, "openapi.yaml")
            with urllib.request.urlopen(request) as answer:
                document.write_bytes(answer.read())
            env = {**os.environ, "PYTHONPATH": str(HERE), "SCHEMATHESIS_HOOKS": "contract_hooks",
                   "SENDENSE_CONTRACT_TOKEN": token, "SENDENSE_CONTRACT_ADMIN_ID": str(me["id"]),
                   "SENDENSE_CONTRACT_WORK": work, "SENDENSE_CONTRACT_LOGOUT_TOKENS": ",".join(logout_tokens)}
            # The coverage phase (every boundary of every parameter, about 2.5 minutes) does not
            # depend on the seed and takes what it takes; fuzzing and the stateful walk along the
            # links each get their own share of the time, so neither starves the other.
            # Fuzzing gets two thirds: in less than about two minutes it reaches only part of the
            # operations (and one it reached only with its unauthenticated probe reads as "auth failed").
            fuzzing = max(60, seconds * 2 // 3)
            runs = [(FIXED_SEED, 900, "examples,coverage"), (other_seed, fuzzing, "fuzzing"), (other_seed, max(30, seconds - fuzzing), "stateful")]
            for seed, budget, phases in runs:
                print(f"contract: schemathesis ({phases}) with seed {seed} for {budget} s (CONTRACT_SEED={seed} replays it)", flush=True)
                started = time.monotonic()
                report = OUT / f"junit-{seed}-{phases.replace(',', '-')}.xml"
                if schemathesis(document, url, seed, budget, env, report, phases) != 0:
                    failed.append(f"schemathesis found failures with seed {seed}")
                print(f"contract: seed {seed} took {time.monotonic() - started:.0f} s", flush=True)
                if hub.poll() is not None:
                    failed.append(f"the hub exited ({hub.returncode}); its log is {OUT / 'hub.log'}")
                    break
            if hub.poll() is None:
                try:
                    health, _ = api(url, "/health")
                    if health["database"] != "ok":
                        failed.append(f"the hub's catalog is not ok after the run: {health}")
                except urllib.error.URLError as error:
                    failed.append(f"the hub does not answer after the run: {error}")
        finally:
            if hub.poll() is None:
                hub.terminate()
                try:
                    hub.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    hub.kill()
                    failed.append("the hub did not stop within 30 s of SIGTERM")
        leftovers = processes_naming(work)
        if leftovers:
            failed.append(f"processes the hub started outlived it: {leftovers}")
        shutil.rmtree(work, ignore_errors=True)
    if failed:
        sys.exit("contract: " + "; ".join(failed))
    print("contract: 0 failures")


if __name__ == "__main__":
    main()
