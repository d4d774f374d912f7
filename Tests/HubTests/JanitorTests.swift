import Catalog
import Engine
import Foundation
import HTTPTypes
import Hub
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Each janitor case reproduced for real, next to something live of the same
/// kind that must be left alone.
@Suite(.serialized, .removesScratch) struct JanitorTests {
    static func startTime(_ pid: Int32) -> Int64? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? Int64(fields[19]) : nil
    }

    @Test("an orphaned qemu-nbd is stopped, a reused PID is not touched, a left .partial goes, an expired session closes")
    func orphans() async throws {
        let folder = scratchFolder()
        let hub = try await TestHub.make(restoreSessions: RestoreSessionLimits(maxSessions: 4, idleLifetime: 1, sweepInterval: 3600))
        try await hub.run { api in
            let token = try await api.login()
            // A backup to mount, whose session expires after a second.
            let fsImage = folder + "/fs.qcow2"
            try TestDisks.makeFileSystem(.ext4(label: "data"), sizeMiB: 16, content: try TestDisks.sampleTree(at: folder + "/tree", seed: 3, largeBytes: 4096, symlink: false), at: folder + "/fs.raw")
            try mustRun(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", folder + "/fs.raw", fsImage])
            _ = try await api.request(.post, "/api/v1/vm-contexts", token: token, json: [
                "vm_name": "fs", "source": ["type": "qemu_image", "disks": [["path": fsImage, "label": "vda"]]]])
            let backup = try await api.request(.post, "/api/v1/backups", token: token, json: ["vm_name": "fs", "repository_id": "1", "backup_type": "full"])
            let backupID = try #require(backup.json["backup_id"] as? String)
            _ = try await api.waitForBackup(backupID, token: token)

            let viewer = try await api.tokenFor(role: "viewer", admin: token)
            // The janitor ran at start; now the leftovers appear, as a killed hub would have left them.
            // A qemu-nbd a killed hub left, recorded in the catalog with its PID and start time.
            let image = folder + "/orphan.qcow2"
            try mustRun(["qemu-img", "create", "-q", "-f", "qcow2", image, "8M"])
            let orphan = Process()
            orphan.executableURL = URL(fileURLWithPath: "/usr/bin/qemu-nbd")
            orphan.arguments = ["--read-only", "--persistent", "-k", folder + "/orphan.sock", image]
            try orphan.run()
            defer { if orphan.isRunning { kill(orphan.processIdentifier, SIGKILL) } }
            for _ in 0..<500 where Self.startTime(orphan.processIdentifier) == nil { usleep(1000) }
            let orphanStart = try #require(Self.startTime(orphan.processIdentifier))
            try await hub.hub.catalog.recordChildProcess(ChildProcessRecord(pid: Int64(orphan.processIdentifier), startTime: orphanStart, command: "qemu-nbd", jobId: "backup-gone-1"))
            // A row whose PID now belongs to another process (this test runner): only forgotten.
            try await hub.hub.catalog.recordChildProcess(ChildProcessRecord(pid: Int64(getpid()), startTime: 1, command: "qemu-nbd", jobId: "backup-gone-2"))
            // A folder a killed backup left.
            let partial = hub.dataDirectory + "/repository/vms/ghost/backup-ghost-1.partial"
            try FileManager.default.createDirectory(atPath: partial, withIntermediateDirectories: true)
            #expect(FileManager.default.createFile(atPath: partial + "/disk-0.qcow2", contents: Data(count: 4096)))
            let mounted = try await api.request(.post, "/api/v1/restore/mount", token: token, json: ["backup_id": backupID, "disk_index": 0])
            let mountID = try #require(mounted.json["mount_id"] as? String, "\(mounted.text)")
            try await Task.sleep(for: .milliseconds(1200))

            #expect(try await api.request(.post, "/api/v1/maintenance/cleanup", token: viewer).status == .forbidden)
            let cleanup = try await api.request(.post, "/api/v1/maintenance/cleanup", token: token)
            #expect(cleanup.status == .ok, "\(cleanup.text)")
            #expect(cleanup.json["stopped_processes"] as? [Int] == [Int(orphan.processIdentifier)])
            #expect(cleanup.json["forgotten_processes"] as? Int == 1)
            #expect(cleanup.json["removed_partials"] as? [String] == [partial])
            #expect(cleanup.json["closed_sessions"] as? [String] == [mountID])
            #expect(try await api.request(.get, "/api/v1/restore/\(mountID)/files?path=/", token: token).status == .gone)
            orphan.waitUntilExit()
            #expect(orphan.terminationReason == .uncaughtSignal)
            #expect(try await hub.hub.catalog.childProcesses().isEmpty)
            #expect(!FileManager.default.fileExists(atPath: partial))
            #expect(kill(getpid(), 0) == 0, "the test runner, whose PID a stale row named, still runs")
            // The finished backup and its files were not touched.
            #expect(try await api.request(.get, "/api/v1/backups/\(backupID)", token: token).json["status"] as? String == "completed")

            let jobs = try await api.request(.get, "/api/v1/jobs?type=cleanup", token: viewer)
            let cleanupJob = try #require((jobs.json["jobs"] as? [[String: Any]])?.first, "\(jobs.text)")
            #expect(cleanupJob["status"] as? String == "completed")
            // A value a job does not have is there as null, as API.md writes it; dates are ISO 8601.
            #expect(cleanupJob["vm_name"] is NSNull && cleanupJob["error_message"] is NSNull, "\(cleanupJob)")
            #expect((cleanupJob["completed_at"] as? String).flatMap { try? Date($0, strategy: .iso8601) } != nil, "\(cleanupJob)")
            let backups = try await api.request(.get, "/api/v1/jobs?type=backup", token: viewer)
            #expect((backups.json["jobs"] as? [[String: Any]])?.first?["job_id"] as? String == backupID)
            #expect(try await api.request(.get, "/api/v1/jobs?type=nope", token: viewer).status == .badRequest)
        }
    }

    @Test("the job list: asked-for cleanups always, idle periodic ones never; finished jobs older than 90 days go")
    func cleanupsInTheJobList() async throws {
        let hub = try await TestHub.make()
        let old = Date().addingTimeInterval(-91 * 86400)
        try await hub.hub.catalog.saveJob(JobHistoryRecord(jobId: "verify-old", type: .verify, status: .completed,
                                                           createdAt: old, completedAt: old))
        try await hub.hub.catalog.saveJob(JobHistoryRecord(jobId: "verify-recent", type: .verify, status: .completed,
                                                           completedAt: Date().addingTimeInterval(-89 * 86400)))
        try await hub.run { api in
            let token = try await api.login()
            // The run at start found nothing to clean: not listed.
            var jobs = try await api.request(.get, "/api/v1/jobs?type=cleanup", token: token)
            #expect(jobs.json["count"] as? Int == 0, "\(jobs.text)")
            #expect(try await api.request(.post, "/api/v1/maintenance/cleanup", token: token).status == .ok)
            jobs = try await api.request(.get, "/api/v1/jobs?type=cleanup", token: token)
            #expect(jobs.json["count"] as? Int == 1, "\(jobs.text)")
            let verifies = try await api.request(.get, "/api/v1/jobs?type=verify", token: token)
            #expect((verifies.json["jobs"] as? [[String: Any]])?.compactMap { $0["job_id"] as? String } == ["verify-recent"], "\(verifies.text)")
        }
    }

    @Test("a backup whose NBD server stops answering is failed as stalled, and its server stopped")
    func stalled() async throws {
        let folder = scratchFolder()
        let hub = try await TestHub.make(stallTimeout: .seconds(1))
        let image = folder + "/slow.qcow2"
        try mustRun(["bash", "-c", "head -c 200M /dev/urandom > \(folder)/seed.raw && qemu-img convert -f raw -O qcow2 \(folder)/seed.raw \(image) && rm \(folder)/seed.raw"])
        try await hub.run { api in
            let token = try await api.login()
            _ = try await api.request(.post, "/api/v1/vm-contexts", token: token, json: [
                "vm_name": "slow", "source": ["type": "qemu_image", "disks": [["path": image, "label": "vda"]]]])
            let started = try await api.request(.post, "/api/v1/backups", token: token, json: ["vm_name": "slow", "repository_id": "1", "backup_type": "full"])
            let backupID = try #require(started.json["backup_id"] as? String)
            // Freeze the job's qemu-nbd, found through the catalog's record of it.
            var server: ChildProcessRecord?
            for _ in 0..<2000 where server == nil {
                server = try await hub.hub.catalog.childProcesses().first { $0.jobId == backupID }
                try await Task.sleep(for: .milliseconds(1))
            }
            let pid = Int32(try #require(server).pid)
            kill(pid, SIGSTOP)
            _ = try await api.request(.post, "/api/v1/maintenance/cleanup", token: token)
            try await Task.sleep(for: .milliseconds(1500))
            let cleanup = try await api.request(.post, "/api/v1/maintenance/cleanup", token: token)
            #expect(cleanup.json["stalled_jobs"] as? [String] == [backupID], "\(cleanup.text)")
            let done = try await api.waitForBackup(backupID, token: token)
            #expect(done.json["status"] as? String == "failed")
            #expect(done.json["error_message"] as? String == "stalled: no progress for 1 s")
            #expect(kill(pid, 0) != 0, "the stalled job's qemu-nbd is gone")
            #expect(!FileManager.default.fileExists(atPath: hub.dataDirectory + "/repository/vms/slow/\(backupID).partial"))
        }
    }
}
