import Catalog
import Foundation
import Hub
import TestSupport
import Testing

@Suite("Hub restarts", .removesScratch)
struct RestartTests {
    @Test("a second start reuses the catalog, admin, key and default repository")
    func reopen() async throws {
        let first = try await TestHub.make()
        try await first.run { api in
            let token = try await api.login()
            _ = try await api.request(.post, "/api/v1/users", token: token,
                                      json: ["username": "dave", "password": "password-d", "role": "viewer"])
        }
        let key = try Data(contentsOf: URL(fileURLWithPath: first.dataDirectory + "/secret.key"))
        let attributes = try FileManager.default.attributesOfItem(atPath: first.dataDirectory + "/secret.key")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)

        let second = try await TestHub.make(dataDirectory: first.dataDirectory)
        #expect(try await second.hub.catalog.appliedMigrations() == catalogMigrations)
        try await second.run { api in
            let token = try await api.login("dave", "password-d")
            let repos = try await api.request(.get, "/api/v1/repositories", token: token)
            #expect(repos.json["count"] as? Int == 1)
            #expect(try await second.hub.catalog.userCount() == 2)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: first.dataDirectory + "/secret.key")) == key)
    }

    @Test("the job list outlives a restart, and a job the restart cut short ends as failed")
    func jobHistoryAcrossRestarts() async throws {
        let first = try await TestHub.make()
        let cleanupID: String = try await first.run { api in
            let token = try await api.login()
            #expect(try await api.request(.post, "/api/v1/maintenance/cleanup", token: token).status == .ok)
            let jobs = try await api.request(.get, "/api/v1/jobs?type=cleanup", token: token)
            return try #require((jobs.json["jobs"] as? [[String: Any]])?.first?["job_id"] as? String, "\(jobs.text)")
        }
        // A prune the stopped hub was in the middle of, as its row was left.
        let catalog = try CatalogDatabase(path: first.dataDirectory + "/catalog.sqlite")
        try await catalog.saveJob(JobHistoryRecord(jobId: "prune-cut", type: .prune, status: .running, vmName: "vm1"))
        try catalog.close()

        let second = try await TestHub.make(dataDirectory: first.dataDirectory)
        try await second.run { api in
            let token = try await api.login()
            let answer = try await api.request(.get, "/api/v1/jobs", token: token)
            let jobs = answer.json["jobs"] as? [[String: Any]] ?? []
            #expect(jobs.contains { $0["job_id"] as? String == cleanupID && $0["status"] as? String == "completed" }, "\(answer.text)")
            let cut = try #require(jobs.first { $0["job_id"] as? String == "prune-cut" }, "\(answer.text)")
            #expect(cut["status"] as? String == "failed")
            #expect(cut["error_message"] as? String == "interrupted by hub restart")
            #expect(cut["completed_at"] is String && cut["vm_name"] as? String == "vm1")
        }
    }

    @Test("a disk restore's status outlives a restart")
    func restoreStatusAcrossRestarts() async throws {
        let vm = try BackupAPITests.makeVM()
        let out = scratchFolder()
        let first = try await TestHub.make()
        let (jobID, total) = try await first.run { api in
            let token = try await api.login()
            _ = try await api.request(.post, "/api/v1/vm-contexts", token: token, json: [
                "vm_name": "lab1", "source": ["type": "qemu_image", "disks": [["path": vm.vda, "label": "vda"]]],
            ])
            let started = try await api.request(.post, "/api/v1/backups", token: token,
                                                json: ["vm_name": "lab1", "repository_id": "1", "backup_type": "full"])
            let backupID = try #require(started.json["backup_id"] as? String)
            #expect(try await api.waitForBackup(backupID, token: token).json["status"] as? String == "completed")
            let restore = try await api.request(.post, "/api/v1/restore/disk", token: token, json: [
                "backup_id": backupID, "disk_index": 0, "target": ["type": "file", "path": out + "/vda.raw", "format": "raw"],
            ])
            let job = try #require(restore.json["job_id"] as? String, "\(restore.text)")
            let done = try await api.waitForRestore(job, token: token)
            #expect(done.json["status"] as? String == "completed", "\(done.text)")
            return (job, try #require(done.json["total_bytes"] as? Int))
        }
        #expect(total == 32 << 20)

        let second = try await TestHub.make(dataDirectory: first.dataDirectory)
        try await second.run { api in
            let token = try await api.login()
            let answer = try await api.request(.get, "/api/v1/restore/disk/\(jobID)", token: token)
            #expect(answer.status == .ok, "\(answer.text)")
            #expect(answer.json["status"] as? String == "completed")
            #expect(answer.json["disk_index"] as? Int == 0)
            #expect((answer.json["backup_id"] as? String)?.hasPrefix("backup-lab1-") == true)
            #expect(answer.json["bytes_done"] as? Int == total && answer.json["total_bytes"] as? Int == total)
            #expect(answer.json["progress_percent"] as? Double == 100)
            #expect(answer.json["completed_at"] is String)
            let unknown = try await api.request(.get, "/api/v1/restore/disk/restore-unknown", token: token)
            #expect(unknown.status == .notFound)
            // Another job's id is not a restore's.
            #expect(try await api.request(.post, "/api/v1/maintenance/cleanup", token: token).status == .ok)
            let jobs = try await api.request(.get, "/api/v1/jobs?type=cleanup", token: token)
            let cleanup = try #require((jobs.json["jobs"] as? [[String: Any]])?.first?["job_id"] as? String)
            #expect(try await api.request(.get, "/api/v1/restore/disk/\(cleanup)", token: token).status == .notFound)
        }
    }

    @Test("a generated admin password is written once to a 0600 file")
    func generatedAdminPassword() async throws {
        let directory = scratchFolder()
        let configuration = HubConfiguration(dataDirectory: directory, bindAddress: "127.0.0.1", port: 0, bcryptCost: 4)
        let hub = try await Hub.build(configuration: configuration, logger: .init(label: "test"))
        let password = try #require(hub.initialAdminPassword)
        #expect(password.count >= 16)
        let file = directory + "/admin-password"
        #expect(try String(contentsOfFile: file, encoding: .utf8) == password + "\n")
        let mode = (try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o600)
        try hub.catalog.close()
        let again = try await Hub.build(configuration: configuration, logger: .init(label: "test"))
        #expect(again.initialAdminPassword == nil)
        try again.catalog.close()
    }
}
