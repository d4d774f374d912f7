import Catalog
import Foundation
import HTTPTypes
import Hub
import TestSupport
import Testing
import VSphere

/// vCenter credentials, discovery and VMware backups over the API, against
/// the test vCenter; restores judged by qemu-img against the VM's disk file.
@Suite(.serialized, .removesScratch) struct VMwareAPITests {
    static func credentialBody(_ sim: VCSim, name: String = "lab-vcenter", password: String? = nil) -> [String: Any] {
        ["name": name, "vcenter_host": sim.host, "vcenter_port": sim.port, "username": sim.info.username,
         "password": password ?? sim.info.password, "datacenter": "DC0", "insecure": true, "transport": "https"]
    }

    @Test("credentials: created sealed, never shown, validated, tested, edited, deleted")
    func credentials() async throws {
        let sim = try VCSim(vms: 6)
        let hub = try await TestHub.make()
        try await hub.run { api in
            let admin = try await api.login()
            let viewer = try await api.tokenFor(role: "viewer", admin: admin)
            let created = try await api.request(.post, "/api/v1/vmware-credentials", token: admin, json: Self.credentialBody(sim))
            #expect(created.status == .created, "\(created.text)")
            #expect(created.json["password"] == nil && !created.text.contains(sim.info.password))
            let id = try #require(created.json["id"] as? Int)
            #expect(created.json["transport"] as? String == "https")

            // The password is sealed in the catalog: its bytes are not there in clear.
            let database = try Data(contentsOf: URL(fileURLWithPath: hub.dataDirectory + "/catalog.sqlite"))
            let wal = (try? Data(contentsOf: URL(fileURLWithPath: hub.dataDirectory + "/catalog.sqlite-wal"))) ?? Data()
            #expect(database.range(of: Data(sim.info.password.utf8)) == nil && wal.range(of: Data(sim.info.password.utf8)) == nil)
            let mode = try FileManager.default.attributesOfItem(atPath: hub.dataDirectory + "/secret.key")[.posixPermissions] as? Int
            #expect(mode == 0o600)

            let list = try await api.request(.get, "/api/v1/vmware-credentials", token: viewer)
            #expect(list.json["count"] as? Int == 1 && !list.text.contains(sim.info.password))
            let forbidden = try await api.request(.post, "/api/v1/vmware-credentials", token: viewer, json: Self.credentialBody(sim, name: "x"))
            #expect(forbidden.status == .forbidden)
            let duplicate = try await api.request(.post, "/api/v1/vmware-credentials", token: admin, json: Self.credentialBody(sim))
            #expect(duplicate.status == .conflict)
            for (field, value) in [("vcenter_host", "https://vc/sdk"), ("vcenter_port", 70000), ("transport", "nfs"),
                                   ("thumbprint", "12:34"), ("password", "")] as [(String, Any)] {
                var body = Self.credentialBody(sim, name: "bad-\(field)")
                body[field] = value
                let bad = try await api.request(.post, "/api/v1/vmware-credentials", token: admin, json: body)
                #expect(bad.status == .badRequest, "\(field): \(bad.text)")
            }
            #expect(try await api.request(.get, "/api/v1/vmware-credentials", token: admin).json["count"] as? Int == 1)

            let test = try await api.request(.post, "/api/v1/vmware-credentials/\(id)/test", token: admin)
            #expect(test.json["success"] as? Bool == true, "\(test.text)")
            #expect(test.json["vm_count"] as? Int == 6)

            // A wrong password: the test says so in vCenter's words.
            let edited = try await api.request(.put, "/api/v1/vmware-credentials/\(id)", token: admin, json: ["password": "wrong-password"])
            #expect(edited.status == .ok, "\(edited.text)")
            let failed = try await api.request(.post, "/api/v1/vmware-credentials/\(id)/test", token: admin)
            #expect(failed.json["success"] as? Bool == false)
            #expect((failed.json["message"] as? String)?.contains("InvalidLogin") == true || (failed.json["message"] as? String)?.contains("incorrect") == true, "\(failed.text)")
            let discoverBad = try await api.request(.post, "/api/v1/discovery/discover-vms", token: admin, json: ["credential_id": id])
            #expect(discoverBad.status == .badGateway, "\(discoverBad.text)")

            // A pinned thumbprint, normalised as vSphere shows it; a wrong pin fails the test with both prints.
            _ = try await api.request(.put, "/api/v1/vmware-credentials/\(id)", token: admin, json: [
                "password": sim.info.password, "insecure": false, "thumbprint": sim.info.sha256_thumbprint.lowercased()])
            let pinned = try await api.request(.post, "/api/v1/vmware-credentials/\(id)/test", token: admin)
            #expect(pinned.json["success"] as? Bool == true, "\(pinned.text)")
            _ = try await api.request(.put, "/api/v1/vmware-credentials/\(id)", token: admin, json: ["thumbprint": String(repeating: "00", count: 20)])
            let mismatch = try await api.request(.post, "/api/v1/vmware-credentials/\(id)/test", token: admin)
            #expect((mismatch.json["message"] as? String)?.contains(sim.info.sha1_thumbprint) == true, "\(mismatch.text)")
            // A pinned credential whose port refuses: a failed test, and the hub lives on (a refused
            // connection once left a promise unfulfilled, which trapped in NIO's leak check).
            _ = try await api.request(.put, "/api/v1/vmware-credentials/\(id)", token: admin, json: ["vcenter_host": "127.0.0.1", "vcenter_port": 9])
            let refused = try await api.request(.post, "/api/v1/vmware-credentials/\(id)/test", token: admin)
            #expect(refused.json["success"] as? Bool == false, "\(refused.text)")
            #expect(try await api.request(.get, "/api/v1/vmware-credentials", token: admin).status == .ok)

            #expect(try await api.request(.delete, "/api/v1/vmware-credentials/\(id)", token: admin).status == .noContent)
            #expect(try await api.request(.post, "/api/v1/vmware-credentials/\(id)/test", token: admin).status == .notFound)
        }
    }

    @Test("discover, add, back up full and incremental from CBT, restore exactly; re-discovery updates; a deleted credential fails the backup at once")
    func discoveryAndBackups() async throws {
        let sim = try VCSim(vms: 4, diskMB: 16)
        let hub = try await TestHub.make()
        try await hub.run { api in
            let token = try await api.login()
            let created = try await api.request(.post, "/api/v1/vmware-credentials", token: token, json: Self.credentialBody(sim))
            let id = try #require(created.json["id"] as? Int)

            let discovered = try await api.request(.post, "/api/v1/discovery/discover-vms", token: token,
                                                   json: ["credential_id": id, "filter": "dc0_h0_*"])
            #expect(discovered.status == .ok, "\(discovered.text)")
            let vms = try #require(discovered.json["discovered_vms"] as? [[String: Any]])
            #expect(vms.count == 2 && discovered.json["count"] as? Int == 2)
            #expect(discovered.json["duration_ms"] is Int)
            let first = try #require(vms.first)
            #expect(first["name"] as? String == "DC0_H0_VM0" && first["datacenter"] as? String == "DC0")
            #expect(first["cbt_enabled"] as? Bool == false && first["context_id"] is NSNull)
            #expect((first["disks"] as? [[String: Any]])?.first?["capacity_bytes"] as? Int == 16 << 20)
            #expect(try await api.request(.get, "/api/v1/vm-contexts", token: token).json["count"] as? Int == 0)

            let missing = try await api.request(.post, "/api/v1/discovery/add-vms", token: token,
                                                json: ["credential_id": id, "vm_names": ["DC0_H0_VM0", "nope"]])
            #expect(missing.status == .notFound && missing.text.contains("nope"))
            #expect(try await api.request(.get, "/api/v1/vm-contexts", token: token).json["count"] as? Int == 0)
            let added = try await api.request(.post, "/api/v1/discovery/add-vms", token: token,
                                              json: ["credential_id": id, "vm_names": ["DC0_H0_VM0"]])
            #expect(added.status == .created, "\(added.text)")
            let context = try #require((added.json["added"] as? [[String: Any]])?.first)
            #expect(context["vcenter_host"] as? String == sim.host && context["credential_id"] as? Int == id)
            #expect(context["power_state"] as? String == "poweredOn" && context["cpu_count"] as? Int == 1 && context["memory_mb"] as? Int == 32)
            let disks = try await api.request(.get, "/api/v1/vm-contexts/DC0_H0_VM0/disks", token: token)
            let disk = try #require((disks.json["disks"] as? [[String: Any]])?.first)
            #expect(disk["vmware_disk_key"] as? Int != nil && disk["datastore"] as? String == "[LocalDS_0]")
            #expect(disk["path"] as? String == "DC0_H0_VM0/disk1.vmdk")

            // Real data on the disk, then a full backup.
            var random = SplitMix64(seed: 5)
            let file = RawReference(existing: sim.flatExtent(vm: "DC0_H0_VM0"), writable: true)
            for offset in [0, 5 << 20, 11 << 20] { file.write(random.bytes(700 << 10), at: UInt64(offset)) }
            let full = try await api.request(.post, "/api/v1/backups", token: token,
                                             json: ["vm_name": "DC0_H0_VM0", "repository_id": "1", "backup_type": "incremental"])
            #expect(full.status == .created, "\(full.text)")
            let fullID = try #require(full.json["backup_id"] as? String)
            let fullDone = try await api.waitForBackup(fullID, token: token)
            #expect(fullDone.json["status"] as? String == "completed", "\(fullDone.text)")
            let fullImage = try #require((fullDone.json["disks"] as? [[String: Any]])?.first?["qcow2_path"] as? String)
            #expect(try mustRun(["qemu-img", "compare", "-f", "qcow2", "-F", "raw", fullImage, sim.flatExtent(vm: "DC0_H0_VM0")]).contains("identical"))

            // Change 3 small areas: the incremental holds only those, and restores exactly.
            for offset in [1 << 20, 7 << 20, 15 << 20] { file.write(random.bytes(4096), at: UInt64(offset)) }
            let inc = try await api.request(.post, "/api/v1/backups", token: token,
                                            json: ["vm_name": "DC0_H0_VM0", "repository_id": "1", "backup_type": "incremental"])
            let incID = try #require(inc.json["backup_id"] as? String)
            #expect(inc.json["backup_type"] as? String == "incremental", "\(inc.text)")
            let incDone = try await api.waitForBackup(incID, token: token)
            #expect(incDone.json["status"] as? String == "completed", "\(incDone.text)")
            #expect((incDone.json["bytes_transferred"] as? Int ?? .max) <= 3 * (64 << 10))
            let incImage = try #require((incDone.json["disks"] as? [[String: Any]])?.first?["qcow2_path"] as? String)
            #expect(try mustRun(["qemu-img", "compare", "-f", "qcow2", "-F", "raw", incImage, sim.flatExtent(vm: "DC0_H0_VM0")]).contains("identical"))

            // Discovery again: the same context, updated, not a second one.
            let again = try await api.request(.post, "/api/v1/discovery/discover-vms", token: token,
                                              json: ["credential_id": id, "filter": "DC0_H0_VM0", "create_context": true])
            #expect(again.json["added"] as? Int == 1)
            #expect((again.json["discovered_vms"] as? [[String: Any]])?.first?["cbt_enabled"] as? Bool == true)
            let contexts = try await api.request(.get, "/api/v1/vm-contexts", token: token)
            #expect(contexts.json["count"] as? Int == 1)
            #expect((contexts.json["vm_contexts"] as? [[String: Any]])?.first?["context_id"] as? String == context["context_id"] as? String)

            // The credential goes: the VM stays, its next backup fails at once saying why.
            #expect(try await api.request(.delete, "/api/v1/vmware-credentials/\(id)", token: token).status == .noContent)
            let orphan = try await api.request(.post, "/api/v1/backups", token: token,
                                               json: ["vm_name": "DC0_H0_VM0", "repository_id": "1", "backup_type": "incremental"])
            #expect(orphan.status == .unprocessableContent, "\(orphan.text)")
            #expect(orphan.error?.contains("credential") == true)
            #expect(try await api.request(.get, "/api/v1/backups?vm_name=DC0_H0_VM0", token: token).json["total_count"] as? Int == 2)
        }
    }

    @Test("a VMware point restored into vCenter: refused bad input leaves no VM; the VM is made with the kept hardware and its disk uploaded exactly; a failure removes the VM")
    func restoreIntoVCenter() async throws {
        let sim = try VCSim(vms: 2, diskMB: 8)
        let hub = try await TestHub.make()
        let vc = VSphereClient(endpoint: VCenterEndpoint(host: sim.host, port: sim.port, trust: .insecure),
                               username: sim.info.username, password: sim.info.password)
        @Sendable func vmNames() async throws -> [String] { try await vc.virtualMachines().map(\.name) }
        try await hub.run { api in
            let token = try await api.login()
            let created = try await api.request(.post, "/api/v1/vmware-credentials", token: token, json: Self.credentialBody(sim))
            let credential = try #require(created.json["id"] as? Int)
            _ = try await api.request(.post, "/api/v1/discovery/add-vms", token: token, json: ["credential_id": credential, "vm_names": ["DC0_H0_VM0"]])
            var random = SplitMix64(seed: 11)
            let file = RawReference(existing: sim.flatExtent(vm: "DC0_H0_VM0"), writable: true)
            for offset in [0, 3 << 20, (8 << 20) - (300 << 10)] { file.write(random.bytes(300 << 10), at: UInt64(offset)) }
            let backup = try await api.request(.post, "/api/v1/backups", token: token,
                                               json: ["vm_name": "DC0_H0_VM0", "repository_id": "1", "backup_type": "full"])
            let backupID = try #require(backup.json["backup_id"] as? String)
            #expect(try await api.waitForBackup(backupID, token: token).json["status"] as? String == "completed")
            let original = try #require(try await vc.virtualMachines().first { $0.name == "DC0_H0_VM0" })
            let before = try await vmNames()

            func restore(_ target: [String: Any], name: String? = nil, network: String? = nil, extra: [String: Any] = [:]) async throws -> APIAnswer {
                var body: [String: Any] = ["backup_id": backupID, "target": target]
                if let name { body["name"] = name }
                if let network { body["network"] = network }
                body.merge(extra) { $1 }
                return try await api.request(.post, "/api/v1/restore/vm", token: token, json: body)
            }
            let target: [String: Any] = ["type": "vcenter", "credential_id": credential, "datastore": sim.info.datastore]
            // Refused, each saying why, and nothing made in vCenter.
            let noDatastore = try await restore(["type": "vcenter", "credential_id": credential])
            #expect(noDatastore.status == .badRequest && noDatastore.text.contains("datastore"), "\(noDatastore.text)")
            let wrongDatastore = try await restore(["type": "vcenter", "credential_id": credential, "datastore": "nope"])
            #expect(wrongDatastore.status == .badRequest && wrongDatastore.text.contains("LocalDS_0"), "\(wrongDatastore.text)")
            let wrongHost = try await restore(target.merging(["host": "esx-nope"]) { $1 })
            #expect(wrongHost.status == .badRequest && wrongHost.text.contains("esx-nope"), "\(wrongHost.text)")
            let wrongNetwork = try await restore(target, network: "no-such-net")
            #expect(wrongNetwork.status == .badRequest && wrongNetwork.text.contains("no-such-net"), "\(wrongNetwork.text)")
            let taken = try await restore(target, name: "DC0_H0_VM0")
            #expect(taken.status == .conflict, "\(taken.text)")
            let noCredential = try await restore(["type": "vcenter", "credential_id": 999, "datastore": sim.info.datastore])
            #expect(noCredential.status == .notFound, "\(noCredential.text)")
            let mixed = try await restore(target.merging(["directory": "/tmp"]) { $1 })
            #expect(mixed.status == .badRequest, "\(mixed.text)")
            let asLibvirt = try await restore(["type": "libvirt", "directory": scratchFolder()])
            #expect(asLibvirt.status == .unprocessableContent && asLibvirt.text.contains("libvirt domain configuration"), "\(asLibvirt.text)")
            #expect(try await vmNames() == before)

            // The restore: the kept hardware, the NIC on the network it was on with its MAC, powered on.
            let started = try await restore(target, name: "DC0_H0_VM0-back", extra: ["keep_macs": true, "start": true])
            #expect(started.status == .accepted, "\(started.text)")
            #expect(started.json["target_type"] as? String == "vcenter" && started.json["libvirt_uri"] is NSNull)
            let jobID = try #require(started.json["job_id"] as? String)
            var answer = started
            for _ in 0..<300 where answer.json["status"] as? String == "in_progress" {
                try await Task.sleep(for: .milliseconds(100))
                answer = try await api.request(.get, "/api/v1/restore/vm/\(jobID)", token: token)
            }
            #expect(answer.json["status"] as? String == "completed", "\(answer.text)")
            #expect(answer.json["progress_percent"] as? Double == 100)
            let place = try #require(answer.json["vcenter"] as? [String: Any])
            #expect(place["datastore"] as? String == sim.info.datastore && place["datacenter"] as? String == "DC0")
            let moref = try #require(place["vm_moref"] as? String)
            let vm = ManagedObjectReference(type: "VirtualMachine", value: moref)
            let made = try await vc.properties(of: vm, ["name", "config.hardware.numCPU", "config.hardware.memoryMB", "config.guestId",
                                                        "config.hardware.device", "runtime.powerState"])
            #expect(made["name"]?.text == "DC0_H0_VM0-back" && made["runtime.powerState"]?.text == "poweredOn")
            #expect(made["config.hardware.numCPU"].flatMap { Int($0.text) } == original.cpuCount)
            #expect(made["config.hardware.memoryMB"].flatMap { Int($0.text) } == original.memoryMB)
            #expect(made["config.guestId"]?.text == original.guestId)
            let devices = made["config.hardware.device"]?.children ?? []
            let disk = try #require(devices.first { $0.type == "VirtualDisk" })
            #expect(disk.int64("capacityInBytes") == 8 << 20)
            let originalDevices = try await vc.properties(of: ManagedObjectReference(type: "VirtualMachine", value: original.moref),
                                                          ["config.hardware.device"])["config.hardware.device"]?.children ?? []
            let nic = try #require(devices.first { $0.type == "VirtualE1000" })
            let originalNIC = try #require(originalDevices.first { $0.type == "VirtualE1000" })
            #expect(nic.text("macAddress") == originalNIC.text("macAddress"))
            #expect(nic["backing"]?["port"]?.text("portgroupKey") == originalNIC["backing"]?["port"]?.text("portgroupKey"))
            // What vCenter was sent is a streamOptimized VMDK of exactly the backed-up disk.
            let uploads = try FileManager.default.contentsOfDirectory(atPath: sim.uploadFolder)
            #expect(uploads.count == 1)
            let upload = sim.uploadFolder + "/" + (uploads.first ?? "")
            #expect(try mustRun(["qemu-img", "info", "-f", "vmdk", upload]).contains("streamOptimized"))
            #expect(try mustRun(["qemu-img", "compare", "-f", "vmdk", "-F", "raw", upload, sim.flatExtent(vm: "DC0_H0_VM0")]).contains("identical"))
            let restores = try await api.request(.get, "/api/v1/jobs?type=restore", token: token)
            #expect((restores.json["jobs"] as? [[String: Any]])?.contains { $0["job_id"] as? String == jobID && $0["status"] as? String == "completed" } == true)

            // vCenter refuses to power the next one on: the job fails saying so, and its VM is removed.
            try sim.failNext("PowerOnVM_Task")
            let failing = try await restore(target, name: "DC0_H0_VM0-fails", extra: ["start": true])
            let failingID = try #require(failing.json["job_id"] as? String)
            var failed = failing
            for _ in 0..<300 where failed.json["status"] as? String == "in_progress" {
                try await Task.sleep(for: .milliseconds(100))
                failed = try await api.request(.get, "/api/v1/restore/vm/\(failingID)", token: token)
            }
            #expect(failed.json["status"] as? String == "failed" && (failed.json["error_message"] as? String)?.contains("PowerOn") == true,
                    "\(failed.text)")
            #expect(try await vmNames() == (before + ["DC0_H0_VM0-back"]).sorted())
            #expect(try await hub.hub.catalog.unsettledVMRestores().isEmpty)
        }
        await vc.close()
    }

    @Test("a restarted hub removes the sendense-* snapshots its killed predecessor left, and no other snapshot")
    func leftoverSnapshotsAtStart() async throws {
        let sim = try VCSim(vms: 2, diskMB: 4)
        let first = try await TestHub.make()
        let backupID = try await first.run { api in
            let token = try await api.login()
            let created = try await api.request(.post, "/api/v1/vmware-credentials", token: token, json: Self.credentialBody(sim))
            let id = try #require(created.json["id"] as? Int)
            _ = try await api.request(.post, "/api/v1/discovery/add-vms", token: token, json: ["credential_id": id, "vm_names": ["DC0_H0_VM0"]])
            let backup = try await api.request(.post, "/api/v1/backups", token: token,
                                               json: ["vm_name": "DC0_H0_VM0", "repository_id": "1", "backup_type": "full"])
            let backupID = try #require(backup.json["backup_id"] as? String)
            _ = try await api.waitForBackup(backupID, token: token)
            return backupID
        }
        // What a hub killed mid-backup leaves: its snapshot. Beside it, one of another hub and one of the admin.
        let client = VSphereClient(endpoint: VCenterEndpoint(host: sim.host, port: sim.port, trust: .insecure),
                                   username: sim.info.username, password: sim.info.password)
        let vm = try #require(try await client.virtualMachines().first { $0.name == "DC0_H0_VM0" })
        for name in ["sendense-\(backupID)", "sendense-backup-of-another-hub", "before-upgrade"] {
            _ = try await client.createSnapshot(vm: vm.moref, name: name, description: "", quiesce: false)
        }
        // The janitor runs as soon as the restarted hub serves.
        let second = try await TestHub.make(dataDirectory: first.dataDirectory)
        let names = try await second.run { _ in
            var names: [String] = []
            for _ in 0..<200 {
                names = try await client.snapshots(vm: vm.moref).map(\.name).sorted()
                if !names.contains("sendense-\(backupID)") { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            return names
        }
        #expect(names == ["before-upgrade", "sendense-backup-of-another-hub"])
        await client.close()
    }
}
