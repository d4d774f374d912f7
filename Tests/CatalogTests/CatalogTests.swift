import Catalog
import Foundation
import GRDB
import SendenseCore
import Testing
import TestSupport

@Suite("Catalog on a real SQLite file", .removesScratch)
struct CatalogTests {
    static func freshPath() -> String {
        scratchFolder("catalog") + "/catalog.sqlite"
    }

    /// A new catalog holding repository 1 and VM "vm" in it (backup context 1).
    static func catalogWithVM() async throws -> CatalogDatabase {
        let catalog = try CatalogDatabase(path: freshPath())
        try await catalog.pool.write { db in
            try db.execute(sql: """
                INSERT INTO repositories (id, name, type, path, repository_uuid, created_at) VALUES (1, 'r', 'local', '/r', 'u', datetime('now'));
                INSERT INTO vm_contexts (context_id, vm_name, source_type, created_at, updated_at) VALUES ('c', 'vm', 'qemu_image', datetime('now'), datetime('now'));
                INSERT INTO vm_backup_contexts (id, context_id, repository_id, vm_key, created_at) VALUES (1, 'c', 1, 'vm', datetime('now'));
                """)
        }
        return catalog
    }

    @Test("migrates an empty file, in WAL mode with foreign keys on")
    func migrateFromEmpty() async throws {
        let catalog = try CatalogDatabase(path: Self.freshPath())
        #expect(try await catalog.appliedMigrations() == catalogMigrations)
        let (mode, foreignKeys) = try await catalog.pool.read { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA foreign_keys"))
        }
        #expect(mode == "wal")
        #expect(foreignKeys == 1)
        let tables = try await catalog.pool.read { db in try String.fetchSet(db, sql: "SELECT name FROM sqlite_master WHERE type='table'") }
        for table in ["users", "api_tokens", "vmware_credentials", "vm_contexts", "vm_disks", "repositories",
                      "vm_backup_contexts", "backup_jobs", "backup_disks", "restore_mounts", "job_telemetry_snapshots",
                      "protection_groups", "protection_flows", "flow_executions", "child_processes", "job_history"] {
            #expect(tables.contains(table), "missing table \(table)")
        }
        try catalog.close()
    }

    @Test("re-opening keeps rows and applies nothing twice")
    func reopen() async throws {
        let path = Self.freshPath()
        let first = try CatalogDatabase(path: path)
        _ = try await first.insertUser(UserRecord(username: "admin", passwordHash: "x", role: .admin))
        try first.close()
        let second = try CatalogDatabase(path: path)
        #expect(try await second.userCount() == 1)
        #expect(try await second.appliedMigrations() == catalogMigrations)
        try second.close()
    }

    @Test("v6 widens the source types: a v5 catalog keeps its VMs, disks and backups, and takes libvirt VMs")
    func libvirtMigration() async throws {
        let path = Self.freshPath()
        try CatalogDatabase.migrate(path: path, upTo: "v5-restore-history")
        try await DatabaseQueue(path: path).write { db in
            try db.execute(sql: """
                INSERT INTO repositories (id, name, type, path, repository_uuid, created_at) VALUES (1, 'r', 'local', '/r', 'u', datetime('now'));
                INSERT INTO vm_contexts (context_id, vm_name, source_type, created_at, updated_at) VALUES ('c', 'vm', 'qemu_image', datetime('now'), datetime('now'));
                INSERT INTO vm_disks (context_id, disk_index, label, capacity_bytes, path) VALUES ('c', 0, 'vda', 1024, '/vda.qcow2');
                INSERT INTO vm_backup_contexts (id, context_id, repository_id, vm_key, created_at) VALUES (1, 'c', 1, 'vm', datetime('now'));
                INSERT INTO backup_jobs (backup_id, vm_backup_context_id, repository_id, vm_name, backup_type, status, bytes_transferred, total_bytes, created_at)
                    VALUES ('b1', 1, 1, 'vm', 'full', 'completed', 0, 0, datetime('now'));
                """)
        }
        let catalog = try CatalogDatabase(path: path)
        #expect(try await catalog.disks(ofContext: "c").map(\.path) == ["/vda.qcow2"])
        #expect(try await catalog.backup(id: "b1")?.consistency == nil)
        let broken = try await catalog.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM pragma_foreign_key_check") }
        #expect(broken == 0)
        try await catalog.insertVMContext(VMContextRecord(contextId: "ctx-l", vmName: "live", sourceType: .libvirt), disks: [])
        #expect(try await catalog.vmContext(named: "live")?.sourceType == .libvirt)
        // Deleting the old context still cascades to its disks: the references survived the rebuild.
        try await catalog.pool.write { db in try db.execute(sql: "DELETE FROM backup_jobs; DELETE FROM vm_backup_contexts; DELETE FROM vm_contexts WHERE context_id = 'c'") }
        #expect(try await catalog.disks(ofContext: "c").isEmpty)
        try catalog.close()
    }

    @Test("foreign keys are enforced and a failed transaction leaves no half row")
    func foreignKeys() async throws {
        let catalog = try CatalogDatabase(path: Self.freshPath())
        let context = VMContextRecord(contextId: "ctx-a", vmName: "a", sourceType: .qemuImage)
        let disks = [
            VMDiskRecord(contextId: "ctx-a", diskIndex: 0, label: "vda", capacityBytes: 1 << 30, path: "/a.qcow2"),
            VMDiskRecord(contextId: "ctx-a", diskIndex: 0, label: "dup", capacityBytes: 1 << 30, path: "/b.qcow2"),
        ]
        await #expect(throws: (any Error).self) { try await catalog.insertVMContext(context, disks: disks) }
        #expect(try await catalog.vmContexts().isEmpty)
        #expect(try await catalog.rowCounts()["vm_disks"] == 0)
        await #expect(throws: (any Error).self) {
            try await catalog.pool.write { db in
                try db.execute(sql: "INSERT INTO vm_disks (context_id, disk_index, label, capacity_bytes, path) VALUES ('nope', 0, 'x', 1, '/x')")
            }
        }
    }

    @Test("deleting a backup removes its restore mounts and disks")
    func cascades() async throws {
        let catalog = try await Self.catalogWithVM()
        try await catalog.pool.write { db in
            try db.execute(sql: """
                INSERT INTO backup_jobs (backup_id, vm_backup_context_id, repository_id, vm_name, backup_type, status, created_at)
                    VALUES ('b1', 1, 1, 'vm', 'full', 'completed', datetime('now'));
                INSERT INTO backup_disks (id, backup_id, disk_index, capacity_bytes, qcow2_path, status) VALUES (7, 'b1', 0, 1, '/r/x', 'completed');
                INSERT INTO restore_mounts (mount_id, backup_id, backup_disk_id, disk_index, status, created_at, last_used_at, expires_at)
                    VALUES ('m1', 'b1', 7, 0, 'mounted', datetime('now'), datetime('now'), datetime('now'));
                """)
        }
        await #expect(throws: CatalogError.self) { try await catalog.deleteRepository(id: 1) }
        try await catalog.pool.write { db in try db.execute(sql: "DELETE FROM backup_jobs WHERE backup_id = 'b1'") }
        let counts = try await catalog.rowCounts()
        #expect(counts["restore_mounts"] == 0)
        #expect(counts["backup_disks"] == 0)
        try await catalog.deleteRepository(id: 1)
        #expect(try await catalog.repositories().isEmpty)
    }

    @Test("a point's row goes although failed and cancelled backups named it as parent; a completed child still holds it")
    func deleteWithFailedChildren() async throws {
        let catalog = try await Self.catalogWithVM()
        try await catalog.pool.write { db in
            for (id, parent, status) in [("b1", nil, "completed"), ("b2", "b1", "failed"), ("b3", "b1", "cancelled"), ("b4", "b1", "completed")] {
                try db.execute(sql: """
                    INSERT INTO backup_jobs (backup_id, vm_backup_context_id, repository_id, vm_name, backup_type, parent_backup_id, status, created_at)
                        VALUES (?, 1, 1, 'vm', 'incremental', ?, ?, datetime('now'))
                    """, arguments: [id, parent, status])
            }
        }
        // The completed child was not reparented (a merge does that first): refused, nothing changed.
        await #expect(throws: (any Error).self) { try await catalog.deleteBackupRow("b1") }
        #expect(try await catalog.backup(id: "b2")?.parentBackupId == "b1")
        try await catalog.reparentBackup("b4", parent: nil, type: .full)
        try await catalog.deleteBackupRow("b1")
        #expect(try await catalog.backup(id: "b1") == nil)
        #expect(try await catalog.backup(id: "b2")?.parentBackupId == nil)
        #expect(try await catalog.backup(id: "b3")?.parentBackupId == nil)
    }

    @Test("the job list's backups: every running one, however old, and the newest N, once each, newest first")
    func runningAndRecent() async throws {
        let catalog = try await Self.catalogWithVM()
        try await catalog.pool.write { db in
            for (index, status) in ["in_progress", "completed", "started", "failed", "completed", "in_progress", "completed"].enumerated() {
                try db.execute(sql: """
                    INSERT INTO backup_jobs (backup_id, vm_backup_context_id, repository_id, vm_name, backup_type, status, created_at)
                        VALUES (?, 1, 1, 'vm', 'full', ?, ?)
                    """, arguments: ["b\(index)", status, Date(timeIntervalSince1970: 1_700_000_000 + Double(index) * 60)])
            }
        }
        #expect(try await catalog.recentJobRows(limit: 2).backups.map(\.backupId) == ["b6", "b5", "b2", "b0"])
        #expect(try await catalog.recentJobRows(limit: 10).backups.map(\.backupId) == ["b6", "b5", "b4", "b3", "b2", "b1", "b0"])
    }

    @Test("the last admin can be neither deleted nor demoted")
    func lastAdmin() async throws {
        let catalog = try CatalogDatabase(path: Self.freshPath())
        let admin = try await catalog.insertUser(UserRecord(username: "root", passwordHash: "x", role: .admin))
        let id = try #require(admin.id)
        await #expect(throws: CatalogError.self) { try await catalog.deleteUser(id: id) }
        await #expect(throws: CatalogError.self) { _ = try await catalog.updateUser(id: id, passwordHash: nil, role: .viewer) }
        _ = try await catalog.insertUser(UserRecord(username: "second", passwordHash: "x", role: .admin))
        _ = try await catalog.updateUser(id: id, passwordHash: nil, role: .viewer)
        #expect(try await catalog.user(id: id)?.role == .viewer)
    }

    @Test("tokens: live, expired, revoked")
    func tokens() async throws {
        let catalog = try CatalogDatabase(path: Self.freshPath())
        let user = try await catalog.insertUser(UserRecord(username: "u", passwordHash: "x", role: .viewer))
        let userID = try #require(user.id)
        let now = Date()
        try await catalog.insertToken(APITokenRecord(userId: userID, tokenHash: "live", createdAt: now, expiresAt: now + 60))
        try await catalog.insertToken(APITokenRecord(userId: userID, tokenHash: "old", createdAt: now - 120, expiresAt: now - 60))
        #expect(try await catalog.user(forTokenHash: "live")?.username == "u")
        #expect(try await catalog.user(forTokenHash: "old") == nil)
        #expect(try await catalog.user(forTokenHash: "unknown") == nil)
        #expect(try await catalog.revokeToken(hash: "live"))
        #expect(try await catalog.user(forTokenHash: "live") == nil)
        #expect(try await !catalog.revokeToken(hash: "live"))
    }

    @Test("a token's user is cached: this process's changes apply at once, another's within the recheck time, expiry always")
    func tokenUserCache() async throws {
        let path = Self.freshPath()
        let hub = try CatalogDatabase(path: path, tokenRecheck: .milliseconds(300))
        let other = try CatalogDatabase(path: path)
        defer { try? other.close(); try? hub.close() }
        let user = try await hub.insertUser(UserRecord(username: "u", passwordHash: "x", role: .admin))
        let userID = try #require(user.id)
        _ = try await hub.insertUser(UserRecord(username: "second", passwordHash: "x", role: .admin))
        let now = Date()
        try await hub.insertToken(APITokenRecord(userId: userID, tokenHash: "a", createdAt: now, expiresAt: now + 60))
        try await hub.insertToken(APITokenRecord(userId: userID, tokenHash: "b", createdAt: now, expiresAt: now + 60))
        #expect(try await hub.user(forTokenHash: "a")?.role == .admin)

        // This process's role change and revocation: seen by the next lookup.
        _ = try await hub.updateUser(id: userID, passwordHash: nil, role: .viewer)
        #expect(try await hub.user(forTokenHash: "a")?.role == .viewer)
        #expect(try await hub.revokeToken(hash: "a"))
        #expect(try await hub.user(forTokenHash: "a") == nil)

        // Another process's revocation: within the recheck time.
        #expect(try await hub.user(forTokenHash: "b") != nil)
        try await other.revokeTokens(userID: userID)
        let deadline = ContinuousClock.now + .seconds(5)
        while try await hub.user(forTokenHash: "b") != nil {
            try #require(ContinuousClock.now < deadline, "a revocation by another process was never seen")
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(ContinuousClock.now < deadline - .seconds(4), "seen later than the recheck time")

        // A cached token past its expiry is refused at once.
        try await hub.insertToken(APITokenRecord(userId: userID, tokenHash: "c", createdAt: now, expiresAt: now + 60))
        #expect(try await hub.user(forTokenHash: "c", now: now) != nil)
        #expect(try await hub.user(forTokenHash: "c", now: now + 61) == nil)
    }

    @Test("records read by position select their table's columns in the table's order, and read back what was written")
    func positionalRecords() async throws {
        let catalog = try await Self.catalogWithVM()
        let vm = try #require(try await catalog.vmContext(named: "vm"))
        var backup = BackupJobRecord(backupId: "b1", vmBackupContextId: 1, repositoryId: 1, vmName: "vm", backupType: .full,
                                     parentBackupId: nil, note: "n", createdAt: Date(timeIntervalSince1970: 1_000))
        backup.status = .completed
        backup.consistency = .crashConsistent
        backup.errorMessage = "e"
        _ = try await catalog.importBackup(backup, contextID: "c", vmKey: "vm", disks: [])
        try await catalog.pool.read { db in
            for (table, request) in try [("vm_contexts", Row.fetchOne(db, VMContextRecord.all())),
                                     ("backup_jobs", Row.fetchOne(db, BackupJobRecord.all()))] {
                let tableOrder = try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?)", arguments: [table])
                #expect(try Array(#require(request).columnNames) == tableOrder, "\(table)")
            }
            // `SELECT *` reads the same values as the query interface.
            #expect(try VMContextRecord.fetchOne(db, sql: "SELECT * FROM vm_contexts") == vm)
            #expect(try BackupJobRecord.fetchOne(db, sql: "SELECT * FROM backup_jobs") == BackupJobRecord.fetchOne(db, key: "b1"))
        }
        let read = try #require(try await catalog.backup(id: "b1"))
        #expect(read.consistency == .crashConsistent && read.errorMessage == "e" && read.note == "n" && read.createdAt == backup.createdAt)
    }
}
