import Catalog
import Foundation
import GRDB
import HTTPTypes
import Hub
import TestSupport
import Testing

extension APITester {
    /// Registers a VM of one qcow2 or raw disk on the hub, which must accept it.
    func addImageVM(_ name: String, disk: String, label: String? = nil, token: String) async throws {
        var entry = ["path": disk]
        entry["label"] = label
        let added = try await request(.post, "/api/v1/vm-contexts", token: token, json: [
            "vm_name": name, "source": ["type": "qemu_image", "disks": [entry]]])
        #expect(added.status == .created, "\(added.text)")
    }

    /// Polls a backup until it leaves started/in_progress.
    func waitForBackup(_ id: String, token: String) async throws -> APIAnswer {
        for _ in 0..<600 {
            let answer = try await request(.get, "/api/v1/backups/\(id)", token: token)
            if let status = answer.json["status"] as? String, !["started", "in_progress"].contains(status) { return answer }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("backup \(id) did not finish")
        return try await request(.get, "/api/v1/backups/\(id)", token: token)
    }

    func waitForRestore(_ id: String, token: String) async throws -> APIAnswer {
        for _ in 0..<600 {
            let answer = try await request(.get, "/api/v1/restore/disk/\(id)", token: token)
            if answer.json["status"] as? String != "in_progress" { return answer }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("restore \(id) did not finish")
        return try await request(.get, "/api/v1/restore/disk/\(id)", token: token)
    }
}

@Suite("Backups and disk restores over the API, judged by qemu-img", .removesScratch)
struct BackupAPITests {
    /// A VM of a qcow2 disk with data and holes, and a raw disk.
    static func makeVM() throws -> (folder: String, vda: String, vdb: String) {
        let folder = scratchFolder()
        let vda = folder + "/vda.qcow2", vdb = folder + "/vdb.raw"
        try mustRun(["qemu-img", "create", "-q", "-f", "qcow2", vda, "32M"])
        try mustRun(["qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 2M", "-c", "write -P 0x22 9M 3M", "-c", "write -P 0x33 31M 1M", vda])
        try mustRun(["qemu-img", "create", "-q", "-f", "raw", vdb, "4M"])
        try mustRun(["qemu-io", "-f", "raw", "-c", "write -P 0x44 1M 1M", vdb])
        return (folder, vda, vdb)
    }

    @Test("register, full, incremental, chain, restore to files, download, verify, delete")
    func lifecycle() async throws {
        let vm = try Self.makeVM()
        let hub = try await TestHub.make()
        try await hub.run { api in
            let token = try await api.login()
            let registered = try await api.request(.post, "/api/v1/vm-contexts", token: token, json: [
                "vm_name": "lab1",
                "source": ["type": "qemu_image", "disks": [["path": vm.vda, "label": "vda"], ["path": vm.vdb, "label": "vdb"]]],
            ])
            #expect(registered.status == .created, "\(registered.text)")
            #expect(registered.json["vm_name"] as? String == "lab1")
            let disks = try await api.request(.get, "/api/v1/vm-contexts/lab1/disks", token: token)
            #expect(disks.json["total_disks"] as? Int == 2)
            #expect((disks.json["disks"] as? [[String: Any]])?.first?["capacity_bytes"] as? Int == 32 << 20)

            // An incremental without a parent becomes full, and says so.
            let first = try await api.request(.post, "/api/v1/backups", token: token,
                                              json: ["vm_name": "lab1", "repository_id": "1", "backup_type": "incremental"])
            #expect(first.status == .created, "\(first.text)")
            #expect(first.json["backup_type"] as? String == "full")
            #expect((first.json["note"] as? String)?.contains("no earlier completed backup") == true)
            #expect((first.json["disk_results"] as? [[String: Any]])?.count == 2)
            let firstID = try #require(first.json["backup_id"] as? String)
            // A second backup of the same VM while the first runs: 409.
            let second = try await api.request(.post, "/api/v1/backups", token: token,
                                               json: ["vm_name": "lab1", "repository_id": "1", "backup_type": "full"])
            #expect(second.status == .conflict, "\(second.text)")

            let done = try await api.waitForBackup(firstID, token: token)
            #expect(done.json["status"] as? String == "completed", "\(done.text)")
            #expect(done.json["progress_percent"] as? Double == 100)
            #expect(done.json["error_message"] is NSNull)
            let firstDisk = try #require((done.json["disks"] as? [[String: Any]])?.first?["qcow2_path"] as? String)
            #expect(try mustRun(["qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", firstDisk, vm.vda]).contains("identical"))
            try mustRun(["qemu-img", "convert", "-O", "raw", vm.vda, vm.folder + "/at-first.raw"])

            // The guest changes; the incremental holds the change.
            try mustRun(["qemu-io", "-f", "qcow2", "-c", "write -P 0x55 9M 64k", "-c", "write -z 0 64k", "-c", "discard 31M 64k", vm.vda])
            let inc = try await api.request(.post, "/api/v1/backups", token: token,
                                            json: ["vm_name": "lab1", "repository_id": 1, "backup_type": "incremental"])
            let incID = try #require(inc.json["backup_id"] as? String)
            #expect(inc.json["backup_type"] as? String == "incremental")
            let incDone = try await api.waitForBackup(incID, token: token)
            #expect(incDone.json["status"] as? String == "completed", "\(incDone.text)")
            #expect(incDone.json["parent_backup_id"] as? String == firstID)
            let incDisk = try #require((incDone.json["disks"] as? [[String: Any]])?.first?["qcow2_path"] as? String)
            #expect(try mustRun(["qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", incDisk, vm.vda]).contains("identical"))
            #expect(try mustRun(["qemu-img", "check", incDisk]).contains("No errors"))

            let list = try await api.request(.get, "/api/v1/backups?vm_name=lab1&limit=1", token: token)
            #expect(list.json["total_count"] as? Int == 2)
            #expect((list.json["backups"] as? [[String: Any]])?.first?["backup_id"] as? String == incID)
            let chain = try await api.request(.get, "/api/v1/backups/chain?vm_name=lab1&repository_id=1", token: token)
            let links = try #require(chain.json["chain"] as? [[String: Any]])
            #expect(links.map { $0["backup_id"] as? String } == [firstID, incID])
            #expect(links.allSatisfy { $0["is_restorable"] as? Bool == true })

            // Restore the first point to a raw file and the latest to qcow2.
            let out = scratchFolder()
            for (id, format, expected) in [(firstID, "raw", vm.folder + "/at-first.raw"), (incID, "qcow2", vm.vda)] {
                let started = try await api.request(.post, "/api/v1/restore/disk", token: token, json: [
                    "backup_id": id, "disk_index": 0, "target": ["type": "file", "path": out + "/\(id).\(format)", "format": format],
                ])
                #expect(started.status == .accepted, "\(started.text)")
                let job = try #require(started.json["job_id"] as? String)
                let finished = try await api.waitForRestore(job, token: token)
                #expect(finished.json["status"] as? String == "completed", "\(finished.text)")
                #expect(try mustRun(["qemu-img", "compare", "-f", format, out + "/\(id).\(format)", expected]).contains("identical"))
            }
            let exists = try await api.request(.post, "/api/v1/restore/disk", token: token, json: [
                "backup_id": incID, "disk_index": 0, "target": ["type": "file", "path": out + "/\(incID).qcow2"]])
            #expect(exists.status == .conflict)
            let intoRepo = try await api.request(.post, "/api/v1/restore/disk", token: token, json: [
                "backup_id": incID, "disk_index": 0, "target": ["type": "file", "path": hub.dataDirectory + "/repository/x.raw"]])
            #expect(intoRepo.status == .unprocessableContent)
            // An NBD target whose URI does not parse: 422, as the document says (it can only give the scheme).
            for uri in ["nbd://[", "nbd+unix:///x", "http://host/x"] {
                let badURI = try await api.request(.post, "/api/v1/restore/disk", token: token, json: [
                    "backup_id": incID, "disk_index": 0, "target": ["type": "nbd", "uri": uri]])
                #expect(badURI.status == .unprocessableContent && badURI.text.contains("target.uri"), "\(uri): \(badURI.text)")
            }

            // Download the raw image: the bytes of the disk now.
            let download = try await api.request(.get, "/api/v1/backups/\(incID)/disks/1/image?format=raw", token: token)
            #expect(download.status == .ok)
            #expect(download.body == (try Data(contentsOf: URL(fileURLWithPath: vm.vdb))))
            // And the whole chain as one qcow2, judged by qemu-img.
            let qcow2 = try await api.request(.get, "/api/v1/backups/\(incID)/disks/0/image?format=qcow2", token: token)
            #expect(qcow2.status == .ok)
            try qcow2.body.write(to: URL(fileURLWithPath: out + "/download.qcow2"))
            #expect(try mustRun(["qemu-img", "check", out + "/download.qcow2"]).contains("No errors"))
            #expect(try mustRun(["qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", out + "/download.qcow2", vm.vda]).contains("identical"))
            // And as a streamOptimized VMDK (chunked: its size is known only at its end), for VMware.
            let vmdk = try await api.request(.get, "/api/v1/backups/\(incID)/disks/0/image?format=vmdk", token: token)
            #expect(vmdk.status == .ok && vmdk.headers[.contentLength] == nil)
            try vmdk.body.write(to: URL(fileURLWithPath: out + "/download.vmdk"))
            #expect(try mustRun(["qemu-img", "compare", "-f", "vmdk", "-F", "qcow2", out + "/download.vmdk", vm.vda]).contains("identical"))
            #expect(try await api.request(.get, "/api/v1/backups/\(incID)/disks/0/image?format=vhd", token: token).status == .badRequest)

            let verify = try await api.request(.post, "/api/v1/backups/\(incID)/verify", token: token)
            #expect(verify.json["status"] as? String == "ok", "\(verify.text)")
            #expect((verify.json["runs_checked"] as? Int ?? 0) > 0)
            // The verify is a job like any other: listed as completed, and one that has ended cannot be cancelled.
            let verifies = try await api.request(.get, "/api/v1/jobs?type=verify", token: token)
            let verifyJob = try #require((verifies.json["jobs"] as? [[String: Any]])?.first)
            #expect(verifyJob["status"] as? String == "completed" && verifyJob["progress_percent"] as? Double == 100)
            let ended = try await api.request(.post, "/api/v1/jobs/\(verifyJob["job_id"] as? String ?? "")/cancel", token: token)
            #expect(ended.status == .conflict, "\(ended.text)")
            #expect(try await api.request(.post, "/api/v1/jobs/verify-nosuch/cancel", token: token).status == .notFound)

            // A parent cannot go while a child depends on it, unless cascading.
            let refused = try await api.request(.delete, "/api/v1/backups/\(firstID)", token: token)
            #expect(refused.status == .conflict)
            #expect(refused.error?.contains(incID) == true)
            let cancel = try await api.request(.post, "/api/v1/backups/\(firstID)/cancel", token: token)
            #expect(cancel.status == .conflict)
            let cascade = try await api.request(.delete, "/api/v1/backups/\(firstID)?cascade=true", token: token)
            #expect(cascade.status == .ok, "\(cascade.text)")
            #expect((cascade.json["deleted"] as? [String])?.sorted() == [firstID, incID].sorted())
            #expect(!FileManager.default.fileExists(atPath: (firstDisk as NSString).deletingLastPathComponent))
            #expect(try await api.request(.get, "/api/v1/backups/\(firstID)", token: token).status == .notFound)
        }
    }

    @Test("verify finds a damaged backup")
    func verifyDetectsDamage() async throws {
        let vm = try Self.makeVM()
        let hub = try await TestHub.make()
        try await hub.run { api in
            let token = try await api.login()
            _ = try await api.request(.post, "/api/v1/vm-contexts", token: token, json: [
                "vm_name": "lab2", "source": ["type": "qemu_image", "disks": [["path": vm.vda]]]])
            let started = try await api.request(.post, "/api/v1/backups", token: token, json: ["vm_name": "lab2", "repository_id": "1", "backup_type": "full"])
            let id = try #require(started.json["backup_id"] as? String)
            let done = try await api.waitForBackup(id, token: token)
            let path = try #require((done.json["disks"] as? [[String: Any]])?.first?["qcow2_path"] as? String)
            // Flip one byte inside the first data cluster (cluster 1 of the file).
            let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
            try handle.seek(toOffset: 65536 + 100)
            try handle.write(contentsOf: Data([0xEE]))
            try handle.close()
            let verify = try await api.request(.post, "/api/v1/backups/\(id)/verify", token: token)
            #expect(verify.json["status"] as? String == "mismatch")
            #expect((verify.json["first_mismatch"] as? String)?.contains("SHA-256") == true)
        }
    }

    @Test("bad backup requests", arguments: [
        (#"{"vm_name":"ghost","repository_id":"1","backup_type":"full"}"#, HTTPResponse.Status.notFound, "VM not found"),
        (#"{"vm_name":"lab3","repository_id":"9","backup_type":"full"}"#, .notFound, "repository not found"),
        (#"{"vm_name":"lab3","repository_id":"x","backup_type":"full"}"#, .badRequest, "repository_id"),
        (#"{"vm_name":"lab3","repository_id":"1","backup_type":"differential"}"#, .badRequest, "backup_type"),
        (#"{"vm_name":"lab3","repository_id":"1","backup_type":"full","disk_indexes":[5]}"#, .notFound, "disk_index=5"),
    ])
    func badBackupRequests(body: String, status: HTTPResponse.Status, message: String) async throws {
        let vm = try Self.makeVM()
        let hub = try await TestHub.make()
        try await hub.run { api in
            let token = try await api.login()
            _ = try await api.request(.post, "/api/v1/vm-contexts", token: token, json: [
                "vm_name": "lab3", "source": ["type": "qemu_image", "disks": [["path": vm.vda]]]])
            let before = try await hub.hub.catalog.rowCounts()
            let answer = try await api.request(.post, "/api/v1/backups", token: token, rawBody: body)
            #expect(answer.status == status, "\(answer.text)")
            #expect(answer.error?.contains(message) == true, "\(answer.text)")
            #expect(try await hub.hub.catalog.rowCounts() == before)
        }
    }

    @Test("the VM list comes whole, or by pages in name order with the total")
    func vmListPages() async throws {
        let vm = try Self.makeVM()
        let hub = try await TestHub.make()
        try await hub.run { api in
            let token = try await api.login()
            for name in ["vm-c", "vm-a", "vm-d", "vm-b", "vm-e"] { try await api.addImageVM(name, disk: vm.vda, token: token) }
            func names(_ query: String) async throws -> ([String], Int?, Int?) {
                let answer = try await api.request(.get, "/api/v1/vm-contexts\(query)", token: token)
                #expect(answer.status == .ok, "\(answer.text)")
                let list = (answer.json["vm_contexts"] as? [[String: Any]] ?? []).compactMap { $0["vm_name"] as? String }
                return (list, answer.json["count"] as? Int, answer.json["total_count"] as? Int)
            }
            #expect(try await names("") == (["vm-a", "vm-b", "vm-c", "vm-d", "vm-e"], 5, 5))
            #expect(try await names("?limit=2") == (["vm-a", "vm-b"], 2, 5))
            #expect(try await names("?limit=2&offset=3") == (["vm-d", "vm-e"], 2, 5))
            #expect(try await names("?offset=4") == (["vm-e"], 1, 5))
            #expect(try await names("?offset=9") == ([], 0, 5))
            for bad in ["?limit=0", "?limit=1001", "?limit=x", "?offset=-1"] {
                let answer = try await api.request(.get, "/api/v1/vm-contexts\(bad)", token: token)
                #expect(answer.status == .badRequest, "\(bad): \(answer.text)")
            }
            // The backup list too, whatever its status filter says (an unknown status matches nothing, but the rest is still checked).
            for bad in ["?offset=-1", "?status=nosuch&offset=-1", "?status=nosuch&repository_id=x", "?status=nosuch&limit=0"] {
                let answer = try await api.request(.get, "/api/v1/backups\(bad)", token: token)
                #expect(answer.status == .badRequest, "\(bad): \(answer.text)")
            }
            #expect(try await api.request(.get, "/api/v1/backups?status=nosuch", token: token).json["total_count"] as? Int == 0)
        }
    }

    @Test("the whole VM list is kept only until a VM changes: this hub's changes show at once, another process's within 2 s")
    func keptVMList() async throws {
        let vm = try Self.makeVM()
        let hub = try await TestHub.make()
        try await hub.run { api in
            let token = try await api.login()
            func everyVM() async throws -> [String: String] {  // name → os_type
                let answer = try await api.request(.get, "/api/v1/vm-contexts", token: token)
                #expect(answer.status == .ok, "\(answer.text)")
                let list = answer.json["vm_contexts"] as? [[String: Any]] ?? []
                return Dictionary(uniqueKeysWithValues: list.map { ($0["vm_name"] as? String ?? "", $0["os_type"] as? String ?? "") })
            }
            try await api.addImageVM("vm-a", disk: vm.vda, token: token)
            #expect(try await everyVM().keys.sorted() == ["vm-a"])
            try await api.addImageVM("vm-b", disk: vm.vda, token: token)
            #expect(try await everyVM().keys.sorted() == ["vm-a", "vm-b"])
            // Any write of the hub's own, through a route or not, shows at once (a backup sets last_backup_at this way).
            try await hub.hub.catalog.pool.write { db in try db.execute(sql: "UPDATE vm_contexts SET os_type = 'mine' WHERE vm_name = 'vm-a'") }
            #expect(try await everyVM()["vm-a"] == "mine")
            // Another process's write: within the 2 s a kept list lives.
            let other = try CatalogDatabase(path: hub.dataDirectory + "/catalog.sqlite")
            defer { try? other.close() }
            try await other.pool.write { db in try db.execute(sql: "UPDATE vm_contexts SET os_type = 'theirs' WHERE vm_name = 'vm-b'") }
            let written = ContinuousClock.now
            while try await everyVM()["vm-b"] != "theirs" {
                #expect(ContinuousClock.now - written < .seconds(3), "another process's change did not show within 3 s")
                if ContinuousClock.now - written > .seconds(3) { break }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    @Test("every kept list (VM pages, backups, chains, jobs, flows) shows the hub's own writes at once, through a route or not")
    func keptListsFollowWrites() async throws {
        let vm = try Self.makeVM()
        let hub = try await TestHub.make()
        try await hub.run { api in
            let token = try await api.login()
            try await api.addImageVM("vm-a", disk: vm.vda, token: token)
            func get(_ path: String) async throws -> [String: Any] {
                let answer = try await api.request(.get, "/api/v1\(path)", token: token)
                #expect(answer.status == .ok, "\(path): \(answer.text)")
                return answer.json
            }
            /// The `field` of each item of list `list` that `path` answers.
            func listed(_ path: String, _ list: String, _ field: String) async throws -> [String] {
                (try await get(path)[list] as? [[String: Any]] ?? []).compactMap { $0[field] as? String }
            }
            func backupIDs() async throws -> [String] { try await listed("/backups?limit=10", "backups", "backup_id") }
            func chainIDs() async throws -> [String] { try await listed("/backups/chain?vm_name=vm-a&repository_id=1", "chain", "backup_id") }
            func jobIDs() async throws -> [String] { try await listed("/jobs", "jobs", "job_id") }
            func flowNames() async throws -> [String] { try await listed("/protection-flows", "flows", "name") }
            func pagedVMs() async throws -> [String] { try await listed("/vm-contexts?limit=5", "vm_contexts", "vm_name") }
            // Each list read once, so that each is kept.
            #expect(try await backupIDs().isEmpty)
            #expect(try await chainIDs().isEmpty)
            #expect(try await jobIDs().isEmpty)
            #expect(try await flowNames().isEmpty)
            #expect(try await pagedVMs() == ["vm-a"])
            try await hub.hub.catalog.pool.write { db in
                try db.execute(sql: """
                    INSERT INTO vm_backup_contexts (id, context_id, repository_id, vm_key, created_at)
                        SELECT 7, context_id, 1, 'vm-a', datetime('now') FROM vm_contexts WHERE vm_name = 'vm-a';
                    INSERT INTO backup_jobs (backup_id, vm_backup_context_id, repository_id, vm_name, backup_type, status, created_at, completed_at)
                        VALUES ('backup-vm-a-1', 7, 1, 'vm-a', 'full', 'completed', datetime('now'), datetime('now'));
                    INSERT INTO protection_flows (name, target_type, target_id, repository_id, schedule, backup_type, created_at, updated_at)
                        VALUES ('nightly', 'vm', 'vm-a', 1, '0 1 * * *', 'incremental', datetime('now'), datetime('now'));
                    UPDATE vm_contexts SET vm_name = 'vm-renamed' WHERE vm_name = 'vm-a';
                    """)
            }
            #expect(try await backupIDs() == ["backup-vm-a-1"])
            #expect(try await jobIDs() == ["backup-vm-a-1"])
            #expect(try await flowNames() == ["nightly"])
            #expect(try await pagedVMs() == ["vm-renamed"])
            // The chain is read with the point's manifest, which this point has not: there, but not restorable.
            let chain = try await get("/backups/chain?vm_name=vm-a&repository_id=1")["chain"] as? [[String: Any]] ?? []
            #expect(chain.map { $0["backup_id"] as? String } == ["backup-vm-a-1"])
            #expect(chain.first?["is_restorable"] as? Bool == false)
        }
    }

    @Test("registering a VM checks its files and leaves nothing when they are bad")
    func badRegistrations() async throws {
        let folder = scratchFolder()
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: folder + "/x.vmdk"))
        try mustRun(["qemu-img", "create", "-q", "-f", "vmdk", folder + "/real.vmdk", "1M"])
        let hub = try await TestHub.make()
        try await hub.run { api in
            let token = try await api.login()
            let before = try await hub.hub.catalog.rowCounts()
            for (disks, status) in [
                ([["path": folder + "/missing.qcow2"]], HTTPResponse.Status.unprocessableContent),
                ([["path": folder + "/real.vmdk"]], .unprocessableContent),
                ([["path": "relative.qcow2"]], .badRequest),
                ([[String: String]](), .badRequest),
            ] {
                let answer = try await api.request(.post, "/api/v1/vm-contexts", token: token,
                                                   json: ["vm_name": "bad", "source": ["type": "qemu_image", "disks": disks]])
                #expect(answer.status == status, "\(disks): \(answer.text)")
            }
            #expect(try await hub.hub.catalog.rowCounts() == before)
        }
    }

    @Test("after a crash the hub fails interrupted backups and removes partial folders")
    func restartRecovery() async throws {
        let first = try await TestHub.make()
        let repository = first.dataDirectory + "/repository"
        try await first.hub.catalog.pool.write { db in
            try db.execute(sql: """
                INSERT INTO vm_contexts (context_id, vm_name, source_type, created_at, updated_at) VALUES ('c', 'vm', 'qemu_image', datetime('now'), datetime('now'));
                INSERT INTO vm_backup_contexts (id, context_id, repository_id, vm_key, created_at) VALUES (1, 'c', 1, 'vm', datetime('now'));
                INSERT INTO backup_jobs (backup_id, vm_backup_context_id, repository_id, vm_name, backup_type, status, created_at)
                    VALUES ('backup-vm-1', 1, 1, 'vm', 'full', 'in_progress', datetime('now'));
                """)
        }
        try FileManager.default.createDirectory(atPath: repository + "/vms/vm/backup-vm-1.partial", withIntermediateDirectories: true)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: repository + "/vms/vm/backup-vm-1.partial/disk-0.qcow2"))
        try first.hub.catalog.close()

        let second = try await TestHub.make(dataDirectory: first.dataDirectory)
        try await second.run { api in
            let token = try await api.login()
            let answer = try await api.request(.get, "/api/v1/backups/backup-vm-1", token: token)
            #expect(answer.json["status"] as? String == "failed")
            #expect(answer.json["error_message"] as? String == "interrupted by hub restart")
        }
        #expect(!FileManager.default.fileExists(atPath: repository + "/vms/vm/backup-vm-1.partial"))
    }

    @Test("cancel over the API stops the copy within 2 s and leaves nothing behind")
    func cancelOverAPI() async throws {
        let folder = scratchFolder()
        let disk = folder + "/big.qcow2"
        try mustRun(["bash", "-c", "head -c 256M /dev/urandom > \(folder)/seed.raw && qemu-img convert -f raw -O qcow2 \(folder)/seed.raw \(disk) && rm \(folder)/seed.raw"])
        let hub = try await TestHub.make()
        try await hub.run { api in
            let token = try await api.login()
            _ = try await api.request(.post, "/api/v1/vm-contexts", token: token, json: [
                "vm_name": "big", "source": ["type": "qemu_image", "disks": [["path": disk]]]])
            let started = try await api.request(.post, "/api/v1/backups", token: token, json: ["vm_name": "big", "repository_id": "1", "backup_type": "full"])
            let id = try #require(started.json["backup_id"] as? String)
            var copying = false
            for _ in 0..<1000 {
                let state = try await api.request(.get, "/api/v1/backups/\(id)", token: token)
                if (state.json["bytes_transferred"] as? Int ?? 0) > 0 { copying = true; break }
                try await Task.sleep(for: .milliseconds(5))
            }
            try #require(copying, "the backup finished before it could be cancelled")
            let cancelledAt = ContinuousClock.now
            let cancel = try await api.request(.post, "/api/v1/backups/\(id)/cancel", token: token)
            #expect(cancel.status == .accepted)
            let done = try await api.waitForBackup(id, token: token)
            #expect(ContinuousClock.now - cancelledAt < .seconds(2))
            #expect(done.json["status"] as? String == "cancelled", "\(done.text)")
            #expect(done.json["error_message"] as? String == "cancelled by user")
            let vmFolder = hub.dataDirectory + "/repository/vms/big"
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: vmFolder)) ?? []).isEmpty)
            // No checkpoint of the cancelled backup stays in the image.
            let info = try mustRun(["qemu-img", "info", "-U", "--output=json", disk])
            #expect(!info.contains("\"sendense-backup-"), "\(info)")
            #expect(!info.contains("bitmaps"), "\(info)")
        }
    }
}

@Suite("Startup cleans what a killed hub left in the VM's images", .removesScratch)
struct StaleBitmapTests {
    static func bitmaps(_ image: String) throws -> [String] {
        let output = try mustRun(["qemu-img", "info", "--output=json", "-U", image])
        let json = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
        let data = (json?["format-specific"] as? [String: Any])?["data"] as? [String: Any]
        return ((data?["bitmaps"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }.sorted()
    }

    @Test("only the newest checkpoint stays in the image: a new full drops the old one; at start, bitmaps of backups that never committed or were replaced go, and the next backup is incremental")
    func staleBitmaps() async throws {
        let vm = try BackupAPITests.makeVM()
        let folder = scratchFolder()
        let first = try await TestHub.make(dataDirectory: folder)
        let (olderID, fullID) = try await first.run { api in
            let token = try await api.login()
            _ = try await api.request(.post, "/api/v1/vm-contexts", token: token, json: [
                "vm_name": "lab1", "source": ["type": "qemu_image", "disks": [["path": vm.vda, "label": "vda"]]],
            ])
            var ids: [String] = []
            for _ in 0..<2 {
                let started = try await api.request(.post, "/api/v1/backups", token: token,
                                                    json: ["vm_name": "lab1", "repository_id": "1", "backup_type": "full"])
                let id = try #require(started.json["backup_id"] as? String)
                #expect(try await api.waitForBackup(id, token: token).json["status"] as? String == "completed")
                ids.append(id)
            }
            // The second full starts the chain over: the first one's checkpoint is of no use any more.
            #expect(try Self.bitmaps(vm.vda) == ["sendense-\(ids[1])"])
            return (ids[0], ids[1])
        }
        // What a hub killed mid-backup leaves: the new checkpoint's bitmap, never committed;
        // and killed between a commit and the removal of the checkpoint it replaced: that one.
        try mustRun(["qemu-img", "bitmap", "--add", "--enable", vm.vda, "sendense-backup-lab1-killed"])
        try mustRun(["qemu-img", "bitmap", "--add", "--enable", vm.vda, "sendense-\(olderID)"])
        try mustRun(["qemu-img", "bitmap", "--add", vm.vda, "admins-own-bitmap"])
        #expect(try Self.bitmaps(vm.vda) == ["admins-own-bitmap", "sendense-\(olderID)", "sendense-\(fullID)", "sendense-backup-lab1-killed"].sorted())

        let second = try await TestHub.make(dataDirectory: folder)
        #expect(try Self.bitmaps(vm.vda) == ["admins-own-bitmap", "sendense-\(fullID)"])
        try await second.run { api in
            let token = try await api.login()
            try mustRun(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 64k", vm.vda])
            let started = try await api.request(.post, "/api/v1/backups", token: token,
                                                json: ["vm_name": "lab1", "repository_id": "1", "backup_type": "incremental"])
            #expect(started.json["backup_type"] as? String == "incremental", "\(started.text)")
            let id = try #require(started.json["backup_id"] as? String)
            let done = try await api.waitForBackup(id, token: token)
            let image = try #require((done.json["disks"] as? [[String: Any]])?.first?["qcow2_path"] as? String)
            #expect(try mustRun(["qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", image, vm.vda]).contains("identical"))
        }
        try? FileManager.default.removeItem(atPath: vm.folder)
    }
}
