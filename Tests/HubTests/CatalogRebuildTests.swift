import Foundation
import HTTPTypes
import Hub
import TestSupport
import Testing

/// A hub whose database was lost, pointed at the repository it wrote.
@Suite(.serialized, .removesScratch) struct CatalogRebuildTests {
    @Test("an empty hub pointed at an existing repository shows every backup again, restores from it, and continues the chain")
    func rescan() async throws {
        let folder = scratchFolder()
        let image = folder + "/vda.qcow2"
        try mustRun(["qemu-img", "create", "-q", "-f", "qcow2", image, "16M"])
        try mustRun(["qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 2M", image])
        let first = try await TestHub.make()
        let ids: [String] = try await first.run { api in
            let token = try await api.login()
            _ = try await api.request(.post, "/api/v1/vm-contexts", token: token, json: [
                "vm_name": "lab", "source": ["type": "qemu_image", "disks": [["path": image, "label": "vda"]]]])
            var ids: [String] = []
            for round in 0..<3 {
                if round > 0 { try mustRun(["qemu-io", "-f", "qcow2", "-c", "write -P \(round + 1) \(round)M 512k", image]) }
                let started = try await api.request(.post, "/api/v1/backups", token: token, json: ["vm_name": "lab", "repository_id": "1", "backup_type": "incremental"])
                let id = try #require(started.json["backup_id"] as? String)
                #expect(try await api.waitForBackup(id, token: token).json["status"] as? String == "completed")
                try mustRun(["qemu-img", "convert", "-O", "raw", image, folder + "/\(id).raw"])
                ids.append(id)
            }
            return ids
        }

        let second = try await TestHub.make(dataDirectory: scratchFolder())
        try await second.run { api in
            let token = try await api.login()
            let registered = try await api.request(.post, "/api/v1/repositories", token: token,
                                                   json: ["name": "old", "type": "local", "path": first.dataDirectory + "/repository"])
            #expect(registered.status == .created, "\(registered.text)")
            let repoID = try #require(registered.json["id"] as? String)
            let viewer = try await api.tokenFor(role: "viewer", admin: token)
            #expect(try await api.request(.post, "/api/v1/repositories/\(repoID)/rescan", token: viewer).status == .forbidden)
            let rescan = try await api.request(.post, "/api/v1/repositories/\(repoID)/rescan", token: token)
            #expect(rescan.status == .ok, "\(rescan.text)")
            #expect(rescan.json["backups_imported"] as? Int == 3 && rescan.json["vm_contexts_created"] as? [String] == ["lab"])
            let again = try await api.request(.post, "/api/v1/repositories/\(repoID)/rescan", token: token)
            #expect(again.json["backups_imported"] as? Int == 0 && again.json["backups_known"] as? Int == 3)

            let chain = try await api.request(.get, "/api/v1/backups/chain?vm_name=lab&repository_id=\(repoID)", token: token)
            #expect((chain.json["chain"] as? [[String: Any]])?.map { $0["backup_id"] as? String } == ids.map { Optional($0) })
            let disks = try await api.request(.get, "/api/v1/vm-contexts/lab/disks", token: token)
            #expect((disks.json["disks"] as? [[String: Any]])?.first?["path"] as? String == image)

            // Restore the middle point from the rebuilt catalog.
            let out = scratchFolder() + "/restored.raw"
            let restore = try await api.request(.post, "/api/v1/restore/disk", token: token, json: [
                "backup_id": ids[1], "disk_index": 0, "target": ["type": "file", "path": out, "format": "raw"]])
            let job = try #require(restore.json["job_id"] as? String, "\(restore.text)")
            #expect(try await api.waitForRestore(job, token: token).json["status"] as? String == "completed")
            #expect(try mustRun(["qemu-img", "compare", "-f", "raw", "-F", "raw", out, folder + "/\(ids[1]).raw"]).contains("identical"))

            // The chain goes on: the VM's bitmap of the last backup is found through the imported checkpoint.
            try mustRun(["qemu-io", "-f", "qcow2", "-c", "write -P 0x99 9M 64k", image])
            let next = try await api.request(.post, "/api/v1/backups", token: token, json: ["vm_name": "lab", "repository_id": repoID, "backup_type": "incremental"])
            #expect(next.json["backup_type"] as? String == "incremental", "\(next.text)")
            let nextID = try #require(next.json["backup_id"] as? String)
            let done = try await api.waitForBackup(nextID, token: token)
            #expect(done.json["parent_backup_id"] as? String == ids[2])
            let nextImage = try #require((done.json["disks"] as? [[String: Any]])?.first?["qcow2_path"] as? String)
            #expect(try mustRun(["qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", nextImage, image]).contains("identical"))
        }
    }
}
