#!/usr/bin/env python3
"""Fills a stopped hub's catalog with a realistic estate for load tests (make bench):
VMS VMs, POINTS completed restore points spread over them as chains in the default repository
(one disk each; the files do not exist, so only the catalog's routes are measured), and FLOWS
flows over groups of ten VMs with a few executions each.

usage: seed-catalog.py DATA_DIR [VMS=1000] [POINTS=50000] [FLOWS=100]
The hub must have run once on DATA_DIR (the catalog's tables exist) and be stopped."""
import datetime
import sqlite3
import sys


def main():
    data = sys.argv[1]
    vms, points, flows = (int(value) for value in (sys.argv[2:] + ["1000", "50000", "100"][len(sys.argv) - 2:])[:3])
    db = sqlite3.connect(f"{data}/catalog.sqlite")
    db.execute("PRAGMA foreign_keys = ON")
    start = datetime.datetime(2025, 1, 1)

    def stamp(minutes):
        return (start + datetime.timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M:%S.000")

    repository, path = db.execute("SELECT id, path FROM repositories ORDER BY id LIMIT 1").fetchone()
    with db:
        for vm in range(vms):
            name, context = f"load-vm-{vm:04d}", f"ctx-load-{vm:04d}"
            db.execute("""INSERT INTO vm_contexts (context_id, vm_name, source_type, source_json, current_status, power_state,
                          created_at, updated_at) VALUES (?, ?, 'qemu_image', '{}', 'ready', 'poweredOff', ?, ?)""",
                       (context, name, stamp(0), stamp(0)))
            db.execute("INSERT INTO vm_disks (context_id, disk_index, label, capacity_bytes, path) VALUES (?, 0, 'vda', ?, ?)",
                       (context, 16 << 30, f"/srv/load/{name}.qcow2"))
            chain = db.execute("""INSERT INTO vm_backup_contexts (context_id, repository_id, vm_key, created_at)
                                  VALUES (?, ?, ?, ?)""", (context, repository, name, stamp(0))).lastrowid
            count = points // vms + (1 if vm < points % vms else 0)
            parent = None
            for index in range(count):
                backup = f"backup-{name}-{index:05d}"
                created = vm + index * 60 * 24 // max(1, count // 30)
                db.execute("""INSERT INTO backup_jobs (backup_id, vm_backup_context_id, repository_id, vm_name, backup_type, status,
                              parent_backup_id, current_phase, bytes_transferred, total_bytes, created_at, started_at, completed_at,
                              consistency) VALUES (?, ?, ?, ?, ?, 'completed', ?, 'completed', ?, ?, ?, ?, ?, 'powered_off')""",
                           (backup, chain, repository, name, "full" if parent is None else "incremental", parent,
                            1 << 28, 1 << 28, stamp(created), stamp(created), stamp(created + 3)))
                db.execute("""INSERT INTO backup_disks (backup_id, disk_index, capacity_bytes, qcow2_path, status, bytes_transferred)
                              VALUES (?, 0, ?, ?, 'completed', ?)""",
                           (backup, 16 << 30, f"{path}/vms/{name}/{backup}/disk-0.qcow2", 1 << 28))
                parent = backup
            if parent:
                db.execute("UPDATE vm_backup_contexts SET last_backup_id = ? WHERE id = ?", (parent, chain))
        for flow in range(flows):
            group = db.execute("INSERT INTO protection_groups (name, created_at, updated_at) VALUES (?, ?, ?)",
                               (f"load-group-{flow:03d}", stamp(0), stamp(0))).lastrowid
            for member in range(10):
                db.execute("INSERT INTO protection_group_members (group_id, context_id) VALUES (?, ?)",
                           (group, f"ctx-load-{(flow * 10 + member) % vms:04d}"))
            flow_id = db.execute("""INSERT INTO protection_flows (name, target_type, target_id, repository_id, schedule, backup_type,
                                    retention_json, enabled, created_at, updated_at) VALUES (?, 'group', ?, ?, '0 2 * * *',
                                    'incremental', '{"keep_last": 30}', 0, ?, ?)""",
                                 (f"load-flow-{flow:03d}", str(group), repository, stamp(0), stamp(0))).lastrowid
            for run in range(5):
                db.execute("""INSERT INTO flow_executions (flow_id, status, trigger, started_at, completed_at)
                              VALUES (?, 'completed', 'schedule', ?, ?)""", (flow_id, stamp(run * 1440), stamp(run * 1440 + 30)))
    print(f"seeded {vms} VMs, {points} restore points, {flows} flows into {data}/catalog.sqlite")


if __name__ == "__main__":
    main()
