import Catalog
import Foundation
import GRDB
import HTTPTypes
import Hub
import TestSupport
import Testing

@Suite("Repositories over the API", .removesScratch)
struct RepositoryAPITests {
    @Test("the default local repository is listed with real capacity")
    func defaultRepository() async throws {
        let hub = try await TestHub.make()
        try await hub.run { api in
            let token = try await api.login()
            let answer = try await api.request(.get, "/api/v1/repositories", token: token)
            #expect(answer.status == .ok)
            #expect(answer.json["count"] as? Int == 1)
            let repo = try #require((answer.json["repositories"] as? [[String: Any]])?.first)
            #expect(repo["id"] as? String == "1")
            #expect(repo["name"] as? String == "local")
            #expect(repo["type"] as? String == "local")
            #expect(repo["path"] as? String == hub.dataDirectory + "/repository")
            #expect(repo["enabled"] as? Bool == true)
            #expect(repo["immutable"] as? Bool == false)
            #expect(repo["backup_count"] as? Int == 0)
            #expect(repo["status"] as? String == "online")
            let attributes = try FileManager.default.attributesOfFileSystem(forPath: hub.dataDirectory)
            let total = try #require((attributes[.systemSize] as? NSNumber)?.int64Value)
            #expect((repo["total_bytes"] as? Int).map(Int64.init) == total)
            let available = try #require(repo["available_bytes"] as? Int)
            let used = try #require(repo["used_bytes"] as? Int)
            #expect(available > 0 && used > 0 && Int64(available + used) <= total)
            #expect(FileManager.default.fileExists(atPath: hub.dataDirectory + "/repository/repository.json"))
        }
    }

    @Test("create, show, refresh and delete a local repository; nesting is refused")
    func localLifecycle() async throws {
        let hub = try await TestHub.make()
        let folder = scratchFolder() + "/deep/repo"
        try await hub.run { api in
            let token = try await api.login()
            let created = try await api.request(.post, "/api/v1/repositories", token: token,
                                                json: ["name": "second", "type": "local", "path": folder + "/"])
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(created.json["id"] as? String)
            #expect(created.json["path"] as? String == folder)
            let descriptor = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/repository.json"))) as? [String: Any]
            #expect(descriptor?["id"] as? String == created.json["repository_uuid"] as? String)
            #expect(descriptor?["format_version"] as? Int == 1)

            let storage = try await api.request(.get, "/api/v1/repositories/\(id)/storage", token: token)
            #expect(storage.status == .ok)
            #expect((storage.json["total_bytes"] as? Int ?? 0) > 0)

            for nested in [folder + "/inner", (folder as NSString).deletingLastPathComponent, folder + "/../repo"] {
                let answer = try await api.request(.post, "/api/v1/repositories", token: token,
                                                   json: ["name": "nested", "type": "local", "path": nested])
                #expect(answer.status == .unprocessableContent, "\(nested): \(answer.text)")
                #expect(answer.error?.contains("overlaps") == true)
            }
            let dataDirParent = (hub.dataDirectory as NSString).deletingLastPathComponent
            let containing = try await api.request(.post, "/api/v1/repositories", token: token,
                                                   json: ["name": "big", "type": "local", "path": dataDirParent])
            #expect(containing.status == .unprocessableContent)

            #expect(try await api.request(.delete, "/api/v1/repositories/\(id)", token: token).status == .noContent)
            #expect(try await api.request(.get, "/api/v1/repositories/\(id)", token: token).status == .notFound)
            // The files stay: re-adding the folder finds the same repository.
            let again = try await api.request(.post, "/api/v1/repositories", token: token,
                                              json: ["name": "second", "type": "local", "path": folder])
            #expect(again.json["repository_uuid"] as? String == created.json["repository_uuid"] as? String)
        }
    }

    @Test("a non-empty folder that is not a repository is refused and left untouched")
    func foreignFolder() async throws {
        let hub = try await TestHub.make()
        let folder = scratchFolder()
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: folder + "/notes.txt"))
        try await hub.run { api in
            let token = try await api.login()
            let answer = try await api.request(.post, "/api/v1/repositories", token: token,
                                               json: ["name": "mixed", "type": "local", "path": folder])
            #expect(answer.status == .unprocessableContent)
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["notes.txt"])
        }
    }

    @Test("deleting a repository that holds backups is refused with 409")
    func deleteWithBackups() async throws {
        let hub = try await TestHub.make()
        try await hub.hub.catalog.pool.write { db in
            try db.execute(sql: """
                INSERT INTO vm_contexts (context_id, vm_name, source_type, created_at, updated_at)
                    VALUES ('ctx-1', 'vm1', 'qemu_image', datetime('now'), datetime('now'));
                INSERT INTO vm_backup_contexts (id, context_id, repository_id, vm_key, created_at)
                    VALUES (1, 'ctx-1', 1, 'vm1', datetime('now'));
                INSERT INTO backup_jobs (backup_id, vm_backup_context_id, repository_id, vm_name, backup_type, status, created_at)
                    VALUES ('backup-vm1-1', 1, 1, 'vm1', 'full', 'completed', datetime('now'));
                """)
        }
        try await hub.run { api in
            let token = try await api.login()
            let listed = try await api.request(.get, "/api/v1/repositories/1", token: token)
            #expect(listed.json["backup_count"] as? Int == 1)
            let answer = try await api.request(.delete, "/api/v1/repositories/1", token: token)
            #expect(answer.status == .conflict)
            #expect(answer.error?.contains("1 backup") == true)
            #expect(try await api.request(.get, "/api/v1/repositories/1", token: token).status == .ok)
        }
    }

    @Test("a failing NFS or CIFS mount answers 502 with mount's words and leaves no row or folder")
    func networkMountFailure() async throws {
        let hub = try await TestHub.make()
        try await hub.run { api in
            let token = try await api.login()
            let before = try await hub.hub.catalog.rowCounts()
            for body: [String: Any] in [
                ["name": "nas", "type": "nfs", "nfs_server": "127.0.0.1", "nfs_export": "/no/such/export", "mount_options": "soft,timeo=10,retrans=1"],
                ["name": "smb", "type": "cifs", "cifs_share": "//127.0.0.1/nothing", "username": "backup", "password": "s3cret pass"],
            ] {
                let answer = try await api.request(.post, "/api/v1/repositories", token: token, json: body)
                #expect(answer.status == .badGateway, "\(answer.text)")
                #expect(answer.error?.contains("mounting the share failed") == true)
                #expect(answer.error?.contains("s3cret") != true)
            }
            #expect(try await hub.hub.catalog.rowCounts() == before)
            let mounts = (try? FileManager.default.contentsOfDirectory(atPath: hub.dataDirectory + "/mounts")) ?? []
            #expect(mounts.isEmpty, "left behind: \(mounts)")
        }
    }
}
