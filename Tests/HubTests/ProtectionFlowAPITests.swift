import Foundation
import HTTPTypes
import Hub
import TestSupport
import Testing

/// Groups, flows, executions and retention over the API, with real backups
/// judged by qemu-img.
@Suite(.serialized, .removesScratch) struct ProtectionFlowAPITests {
    static func register(_ api: APITester, token: String, name: String, folder: String) async throws -> String {
        let image = folder + "/\(name).qcow2"
        try mustRun(["qemu-img", "create", "-q", "-f", "qcow2", image, "16M"])
        try mustRun(["qemu-io", "-f", "qcow2", "-c", "write -P 0x31 0 3M", image])
        try await api.addImageVM(name, disk: image, label: "vda", token: token)
        return image
    }

    func waitForExecution(_ api: APITester, flow: Int, token: String, count: Int) async throws -> [[String: Any]] {
        for _ in 0..<400 {
            let list = try await api.request(.get, "/api/v1/protection-flows/\(flow)/executions", token: token)
            let executions = list.json["executions"] as? [[String: Any]] ?? []
            if executions.count >= count, executions.allSatisfy({ $0["status"] as? String != "running" }) { return executions }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("flow \(flow) did not finish \(count) executions")
        return []
    }

    @Test("groups and flows: validated, run now, executions and machines, retention keep_last 3 over 6 runs restores exactly")
    func flows() async throws {
        let folder = scratchFolder()
        let hub = try await TestHub.make()
        try await hub.run { api in
            let token = try await api.login()
            let viewer = try await api.tokenFor(role: "viewer", admin: token)
            let web = try await Self.register(api, token: token, name: "web", folder: folder)
            _ = try await Self.register(api, token: token, name: "db", folder: folder)

            let group = try await api.request(.post, "/api/v1/protection-groups", token: token,
                                              json: ["name": "prod", "description": "production", "vm_names": ["web", "db"]])
            #expect(group.status == .created, "\(group.text)")
            let groupID = try #require(group.json["id"] as? Int)
            #expect(group.json["vm_names"] as? [String] == ["db", "web"])
            #expect(try await api.request(.post, "/api/v1/protection-groups", token: token, json: ["name": "x", "vm_names": ["nope"]]).status == .unprocessableContent)
            // A PUT naming a VM that does not exist is the body's fault: 422, and the group is unchanged (404 would say "no such group").
            let badPut = try await api.request(.put, "/api/v1/protection-groups/\(groupID)", token: token, json: ["vm_names": ["web", "nope"]])
            #expect(badPut.status == .unprocessableContent && badPut.text.contains("vm_name=nope"), "\(badPut.text)")
            #expect(try await api.request(.get, "/api/v1/protection-groups/\(groupID)", token: token).json["vm_names"] as? [String] == ["db", "web"])
            #expect(try await api.request(.post, "/api/v1/protection-groups", token: viewer, json: ["name": "y"]).status == .forbidden)

            // Bad flows answer 400 / 422 and leave nothing.
            let base: [String: Any] = ["name": "nightly", "target_type": "group", "target_id": String(groupID), "repository_id": "1",
                                       "schedule": "0 2 * * *", "time_zone": "Europe/Berlin", "backup_type": "incremental",
                                       "full_every": 7, "retention": ["keep_last": 3]]
            for (field, value, status) in [("schedule", "0 25 * * *", HTTPResponse.Status.badRequest), ("time_zone", "Mars/Base", .badRequest),
                                           ("target_type", "host", .badRequest), ("target_id", "999", .unprocessableContent),
                                           ("repository_id", "99", .unprocessableContent), ("full_every", "monthly", .badRequest)] as [(String, Any, HTTPResponse.Status)] {
                var body = base
                body[field] = value
                let bad = try await api.request(.post, "/api/v1/protection-flows", token: token, json: body)
                #expect(bad.status == status, "\(field): \(bad.text)")
            }
            var badRetention = base
            badRetention["retention"] = ["keep_last": -1]
            #expect(try await api.request(.post, "/api/v1/protection-flows", token: token, json: badRetention).status == .badRequest)
            #expect(try await api.request(.get, "/api/v1/protection-flows", token: token).json["count"] as? Int == 0)

            let created = try await api.request(.post, "/api/v1/protection-flows", token: token, json: base)
            #expect(created.status == .created, "\(created.text)")
            let groupFlow = try #require(created.json["id"] as? Int)
            #expect(created.json["target_name"] as? String == "prod" && created.json["vm_count"] as? Int == 2)
            #expect(created.json["next_run_at"] is String && created.json["full_every"] as? Int == 7)
            // The group cannot go while a flow targets it.
            #expect(try await api.request(.delete, "/api/v1/protection-groups/\(groupID)", token: token).status == .conflict)

            let run = try await api.request(.post, "/api/v1/protection-flows/\(groupFlow)/execute", token: token)
            #expect(run.status == .accepted, "\(run.text)")
            let executions = try await waitForExecution(api, flow: groupFlow, token: token, count: 1)
            #expect(executions.first?["status"] as? String == "completed")
            #expect((executions.first?["vms"] as? [[String: Any]])?.map { $0["status"] as? String } == ["completed", "completed"])
            let machines = try await api.request(.get, "/api/v1/protection-flows/\(groupFlow)/machines", token: viewer)
            #expect(machines.json["count"] as? Int == 2)
            #expect((machines.json["machines"] as? [[String: Any]])?.allSatisfy { $0["last_backup_status"] as? String == "completed" } == true)
            let listed = try await api.request(.get, "/api/v1/protection-flows", token: viewer)
            let shown = (listed.json["flows"] as? [[String: Any]])?.first { $0["id"] as? Int == groupFlow }
            #expect(shown?["target_name"] as? String == "prod" && shown?["vm_count"] as? Int == 2, "\(listed.text)")
            #expect(shown?["last_execution_status"] as? String == "completed", "\(listed.text)")

            // A flow for one VM with keep_last 3: six runs leave exactly three points, each the disk as it was.
            let single = try await api.request(.post, "/api/v1/protection-flows", token: token, json: [
                "name": "web-4h", "target_type": "vm", "target_id": "web", "repository_id": 1, "schedule": "every 4h",
                "retention": ["keep_last": 3]])
            let webFlow = try #require(single.json["id"] as? Int, "\(single.text)")
            var raws: [String: String] = [:]
            for round in 1...6 {
                try mustRun(["qemu-io", "-f", "qcow2", "-c", "write -P \(round) \(round)M 256k", "-c", "discard \(round + 6)M 64k", web])
                _ = try await api.request(.post, "/api/v1/protection-flows/\(webFlow)/execute", token: token)
                let done = try await waitForExecution(api, flow: webFlow, token: token, count: round)
                let id = try #require((done.first?["vms"] as? [[String: Any]])?.first?["backup_id"] as? String)
                let raw = folder + "/\(id).raw"
                try mustRun(["qemu-img", "convert", "-O", "raw", web, raw])
                raws[id] = raw
            }
            // Retention runs after each execution; give the last one a moment to finish.
            var points: [[String: Any]] = []
            for _ in 0..<100 {
                let chain = try await api.request(.get, "/api/v1/backups/chain?vm_name=web&repository_id=1", token: token)
                points = chain.json["chain"] as? [[String: Any]] ?? []
                if points.count == 3 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(points.count == 3, "\(points.map { $0["backup_id"] ?? "" })")
            #expect(points.first?["backup_type"] as? String == "full")
            for point in points {
                let id = try #require(point["backup_id"] as? String)
                let shown = try await api.request(.get, "/api/v1/backups/\(id)", token: token)
                let image = try #require((shown.json["disks"] as? [[String: Any]])?.first?["qcow2_path"] as? String)
                #expect(try mustRun(["qemu-img", "check", image]).contains("No errors"))
                let compare = try tool(["qemu-img", "compare", "-f", "qcow2", "-F", "raw", image, try #require(raws[id])])
                #expect(compare.status == 0, "\(id): \(compare.output)")
            }
            // Nothing more to prune: a dry run says so.
            let dry = try await api.request(.post, "/api/v1/protection-flows/\(webFlow)/prune", token: token, json: ["dry_run": true])
            #expect(dry.status == .ok, "\(dry.text)")
            #expect(((dry.json["results"] as? [[String: Any]])?.first?["removed"] as? [String])?.isEmpty == true)

            // Disabled: no next run. Deleted: gone, its backups stay.
            let off = try await api.request(.put, "/api/v1/protection-flows/\(webFlow)", token: token, json: ["enabled": false])
            #expect(off.json["next_run_at"] is NSNull, "\(off.text)")
            #expect(try await api.request(.delete, "/api/v1/protection-flows/\(webFlow)", token: token).status == .noContent)
            #expect(try await api.request(.get, "/api/v1/protection-flows/\(webFlow)", token: token).status == .notFound)
            #expect(try await api.request(.get, "/api/v1/backups?vm_name=web", token: token).json["total_count"] as? Int == 3)
        }
    }

    @Test("an immutable repository refuses to delete a young restore point, saying until when")
    func immutableDelete() async throws {
        let folder = scratchFolder()
        let hub = try await TestHub.make()
        try await hub.run { api in
            let token = try await api.login()
            _ = try await Self.register(api, token: token, name: "vault", folder: folder)
            let repo = try await api.request(.post, "/api/v1/repositories", token: token,
                                             json: ["name": "worm", "type": "local", "path": folder + "/worm", "immutable_days": 30])
            #expect(repo.status == .created, "\(repo.text)")
            #expect(repo.json["immutable"] as? Bool == true && repo.json["immutable_days"] as? Int == 30)
            let repoID = try #require(repo.json["id"] as? String)
            let backup = try await api.request(.post, "/api/v1/backups", token: token, json: ["vm_name": "vault", "repository_id": repoID, "backup_type": "full"])
            let id = try #require(backup.json["backup_id"] as? String)
            _ = try await api.waitForBackup(id, token: token)
            let refused = try await api.request(.delete, "/api/v1/backups/\(id)", token: token)
            #expect(refused.status == .conflict)
            #expect(refused.error?.contains("immutable until") == true, "\(refused.text)")
            #expect(try await api.request(.get, "/api/v1/backups/\(id)", token: token).status == .ok)
        }
    }
}
