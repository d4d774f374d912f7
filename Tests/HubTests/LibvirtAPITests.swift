import Foundation
import TestSupport
import Testing

/// The libvirt discovery routes against a real libvirtd: what they answer,
/// who may call them, and bad input (stopped domains only: nothing boots here).
@Suite("libvirt discovery API", .serialized, .removesScratch)
struct LibvirtAPITests {
    /// Defines (or redefines) a stopped domain with `disks` (XML of <disk> elements) and answers its name.
    static func define(_ name: String, disks: String, in folder: String) throws -> String {
        let definition = folder + "/\(name).xml"
        // A domain defined again keeps its UUID (libvirt refuses the name under another one).
        let uuid = (try? tool(LibvirtLab.virsh + ["domuuid", name]))?.output.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        try """
        <domain type='qemu'><name>\(name)</name>\(uuid.count == 36 ? "<uuid>\(uuid)</uuid>" : "")<memory unit='MiB'>128</memory><vcpu>2</vcpu>
          <os><type arch='x86_64' machine='pc'>hvm</type></os><devices>\(disks)</devices></domain>
        """.write(toFile: definition, atomically: true, encoding: .utf8)
        _ = try mustRun(LibvirtLab.virsh + ["define", definition])
        return name
    }

    static func undefine(_ name: String) {
        _ = try? tool(LibvirtLab.virsh + ["undefine", name])
    }

    static func fileDisk(_ path: String, target: String, format: String) -> String {
        "<disk type='file' device='disk'><driver name='qemu' type='\(format)'/><source file='\(path)'/><target dev='\(target)' bus='virtio'/></disk>"
    }

    @Test("discover shows a domain's disks and why one is not backed up; add makes a VM, again keeps disk indexes; bad input is refused")
    func discoverAndAdd() async throws {
        try LibvirtLab.ensureDaemon()
        let folder = scratchFolder("libvirt-api")
        _ = try mustRun(["qemu-img", "create", "-q", "-f", "qcow2", folder + "/vda.qcow2", "16M"])
        _ = try mustRun(["qemu-img", "create", "-q", "-f", "raw", folder + "/vdb.raw", "8M"])
        _ = try mustRun(["qemu-img", "create", "-q", "-f", "qcow2", folder + "/vde.qcow2", "4M"])
        let name = "sendense-api-\(UUID().uuidString.prefix(8).lowercased())"
        let network = "<disk type='network' device='disk'><driver name='qemu' type='raw'/><source protocol='nbd' name='x'><host name='127.0.0.1' port='10809'/></source><target dev='vdc' bus='virtio'/></disk>"
        let cdrom = "<disk type='file' device='cdrom'><target dev='hdc' bus='ide'/><readonly/></disk>"
        _ = try Self.define(name, disks: Self.fileDisk(folder + "/vda.qcow2", target: "vda", format: "qcow2")
            + Self.fileDisk(folder + "/vdb.raw", target: "vdb", format: "raw") + network + cdrom, in: folder)
        defer { Self.undefine(name) }
        let hub = try await TestHub.make()
        try await hub.run { api in
            let token = try await api.login()
            let viewer = try await api.tokenFor(role: "viewer", admin: token)
            #expect(try await api.request(.post, "/api/v1/discovery/libvirt/discover-vms", token: viewer, json: [:]).status == .forbidden)
            #expect(try await api.request(.post, "/api/v1/discovery/libvirt/discover-vms", json: [:]).status == .unauthorized)

            let found = try await api.request(.post, "/api/v1/discovery/libvirt/discover-vms", token: token, json: ["filter": name])
            #expect(found.status == .ok, "\(found.text)")
            #expect(found.json["uri"] as? String == "qemu:///system")
            let domain = try #require((found.json["domains"] as? [[String: Any]])?.first, "\(found.text)")
            #expect(found.json["count"] as? Int == 1)
            #expect(domain["name"] as? String == name)
            #expect(domain["power_state"] as? String == "poweredOff")
            #expect(domain["cpu_count"] as? Int == 2 && domain["memory_mb"] as? Int == 128 && domain["firmware"] as? String == "bios")
            #expect(domain["context_id"] is NSNull)
            let disks = try #require(domain["disks"] as? [[String: Any]])
            // The CD-ROM is not a disk of the VM; the network disk is listed with why it is not backed up.
            #expect(disks.map { $0["target"] as? String } == ["vda", "vdb", "vdc"])
            #expect(disks[0]["format"] as? String == "qcow2" && disks[0]["capacity_bytes"] as? Int == 16 << 20 && disks[0]["problem"] is NSNull)
            #expect(disks[1]["format"] as? String == "raw" && disks[1]["capacity_bytes"] as? Int == 8 << 20)
            #expect((disks[2]["problem"] as? String)?.contains("network") == true, "\(disks[2])")

            // Bad input: nothing is added.
            // Only plain ssh URIs: no other transport, no program for ssh or libvirt to run, no option smuggled as a host or user.
            for (uri, words) in [("qemu+tcp://kvm1/system", "neither"), ("qemu+ssh://kvm1/system?command=/bin/sh", "command is not accepted"),
                                 ("qemu+ssh://kvm1/system?netcat=/tmp/x", "netcat is not accepted"), ("qemu+ssh://-oProxyCommand=x/system", "host"),
                                 ("qemu+ssh://-oProxyCommand@kvm1/system", "user"), ("qemu+ssh://kvm1/session", "/system"),
                                 ("qemu+ssh://root:secret@kvm1/system", "no password"), ("qemu+ssh://kvm1/system?keyfile=key", "absolute path"),
                                 ("test:///default", "neither")] {
                let refused = try await api.request(.post, "/api/v1/discovery/libvirt/discover-vms", token: token, json: ["uri": uri])
                #expect(refused.status == .badRequest && refused.text.contains(words), "\(uri): \(refused.text)")
            }
            #expect(try await api.request(.post, "/api/v1/discovery/libvirt/add-vms", token: token, json: ["domains": [String]()]).status == .badRequest)
            #expect(try await api.request(.post, "/api/v1/discovery/libvirt/add-vms", token: token, json: [:]).status == .badRequest)
            let unknown = try await api.request(.post, "/api/v1/discovery/libvirt/add-vms", token: token, json: ["domains": [name, "no-such-domain-x1"]])
            #expect(unknown.status == .notFound && unknown.text.contains("no-such-domain-x1"), "\(unknown.text)")
            #expect(try await api.request(.get, "/api/v1/vm-contexts/\(name)/disks", token: token).status == .notFound)

            let added = try await api.request(.post, "/api/v1/discovery/libvirt/add-vms", token: token, json: ["domains": [name]])
            #expect(added.status == .created, "\(added.text)")
            let context = try #require((added.json["added"] as? [[String: Any]])?.first)
            #expect(context["vm_name"] as? String == name)
            let first = try await api.request(.get, "/api/v1/vm-contexts/\(name)/disks", token: token)
            #expect((first.json["disks"] as? [[String: Any]])?.map { "\($0["disk_index"] ?? "")=\($0["label"] ?? "")" } == ["0=vda", "1=vdb"])
            let again = try await api.request(.post, "/api/v1/discovery/libvirt/discover-vms", token: token, json: ["filter": name])
            #expect((again.json["domains"] as? [[String: Any]])?.first?["context_id"] as? String == context["context_id"] as? String)

            // The same libvirtd reached as another host, through SSH: the same domain, added to the same VM.
            let ssh = try SSHLab()
            defer { ssh.stop() }
            let remote = try await api.request(.post, "/api/v1/discovery/libvirt/discover-vms", token: token, json: ["uri": ssh.libvirtURI, "filter": name])
            #expect(remote.status == .ok && remote.json["count"] as? Int == 1, "\(remote.text)")
            #expect((remote.json["domains"] as? [[String: Any]])?.first?["uuid"] as? String == domain["uuid"] as? String)
            let closed = "qemu+ssh://root@127.0.0.1:\(try SSHLab.freePort())/system?keyfile=\(ssh.keyFile)"
            let unreachable = try await api.request(.post, "/api/v1/discovery/libvirt/discover-vms", token: token, json: ["uri": closed])
            #expect(unreachable.status == .badGateway, "\(unreachable.text)")

            // vdb leaves the domain, vde joins: vda keeps index 0, vde gets a new one (1 is vdb's chain).
            _ = try Self.define(name, disks: Self.fileDisk(folder + "/vda.qcow2", target: "vda", format: "qcow2")
                + Self.fileDisk(folder + "/vde.qcow2", target: "vde", format: "qcow2"), in: folder)
            let refreshed = try await api.request(.post, "/api/v1/discovery/libvirt/add-vms", token: token, json: ["domains": [name]])
            #expect(refreshed.status == .created, "\(refreshed.text)")
            #expect((refreshed.json["added"] as? [[String: Any]])?.first?["context_id"] as? String == context["context_id"] as? String)
            let second = try await api.request(.get, "/api/v1/vm-contexts/\(name)/disks", token: token)
            #expect((second.json["disks"] as? [[String: Any]])?.map { "\($0["disk_index"] ?? "")=\($0["label"] ?? "")" } == ["0=vda", "2=vde"])

            // A VM of image files holds a domain's name: that domain cannot take it.
            let taken = "sendense-api-taken-\(UUID().uuidString.prefix(6).lowercased())"
            let image = try await api.request(.post, "/api/v1/vm-contexts", token: token,
                                              json: ["vm_name": taken, "source": ["type": "qemu_image", "disks": [["path": folder + "/vde.qcow2"]]]])
            #expect(image.status == .created, "\(image.text)")
            _ = try Self.define(taken, disks: Self.fileDisk(folder + "/vde.qcow2", target: "vda", format: "qcow2"), in: folder)
            defer { Self.undefine(taken) }
            let conflict = try await api.request(.post, "/api/v1/discovery/libvirt/add-vms", token: token, json: ["domains": [taken]])
            #expect(conflict.status == .conflict, "\(conflict.text)")
            let registered = try await api.request(.post, "/api/v1/vm-contexts", token: token,
                                                   json: ["vm_name": "x-libvirt", "source": ["type": "libvirt", "disks": [["path": folder + "/vda.qcow2"]]]])
            #expect(registered.status == .unprocessableContent && registered.text.contains("through discovery"), "\(registered.text)")
        }
    }

    @Test("a stopped domain backed up through the hub is powered_off; a hub that lost its catalog rebuilds the VM from the repository and goes on with the chain")
    func stoppedDomainAndRebuild() async throws {
        try LibvirtLab.ensureDaemon()
        let folder = scratchFolder("libvirt-rebuild")
        let image = folder + "/vda.qcow2"
        _ = try mustRun(["qemu-img", "create", "-q", "-f", "qcow2", image, "16M"])
        _ = try mustRun(["qemu-io", "-f", "qcow2", "-c", "write -P 0x21 1M 2M", image])
        let name = "sendense-rebuild-\(UUID().uuidString.prefix(8).lowercased())"
        _ = try Self.define(name, disks: Self.fileDisk(image, target: "vda", format: "qcow2"), in: folder)
        defer { Self.undefine(name) }
        let first = try await TestHub.make()
        let firstID: String = try await first.run { api in
            let token = try await api.login()
            #expect(try await api.request(.post, "/api/v1/discovery/libvirt/add-vms", token: token, json: ["domains": [name]]).status == .created)
            let started = try await api.request(.post, "/api/v1/backups", token: token, json: ["vm_name": name, "repository_id": "1", "backup_type": "full"])
            let id = try #require(started.json["backup_id"] as? String, "\(started.text)")
            let done = try await api.waitForBackup(id, token: token)
            #expect(done.json["status"] as? String == "completed", "\(done.text)")
            #expect(done.json["consistency"] as? String == "powered_off")
            return id
        }
        let manifest = try String(contentsOfFile: first.dataDirectory + "/repository/vms/\(name)/\(firstID)/manifest.json", encoding: .utf8)
        #expect(manifest.contains("\"vm_configuration\"") && manifest.contains("\"consistency\" : \"powered_off\""))

        let second = try await TestHub.make(dataDirectory: scratchFolder())
        try await second.run { api in
            let token = try await api.login()
            let registered = try await api.request(.post, "/api/v1/repositories", token: token,
                                                   json: ["name": "old", "type": "local", "path": first.dataDirectory + "/repository"])
            let repoID = try #require(registered.json["id"] as? String, "\(registered.text)")
            let rescan = try await api.request(.post, "/api/v1/repositories/\(repoID)/rescan", token: token)
            #expect(rescan.json["vm_contexts_created"] as? [String] == [name], "\(rescan.text)")
            let contexts = try await api.request(.get, "/api/v1/vm-contexts", token: token)
            #expect((contexts.json["vm_contexts"] as? [[String: Any]])?.first?["source_type"] as? String == "libvirt")
            let chain = try await api.request(.get, "/api/v1/backups/chain?vm_name=\(name)&repository_id=\(repoID)", token: token)
            #expect((chain.json["chain"] as? [[String: Any]])?.first?["consistency"] as? String == "powered_off")
            // The rebuilt VM still knows its domain: the next backup is an incremental on the imported one.
            _ = try mustRun(["qemu-io", "-f", "qcow2", "-c", "write -P 0x42 8M 64k", image])
            let next = try await api.request(.post, "/api/v1/backups", token: token, json: ["vm_name": name, "repository_id": repoID, "backup_type": "incremental"])
            let nextID = try #require(next.json["backup_id"] as? String, "\(next.text)")
            let done = try await api.waitForBackup(nextID, token: token)
            #expect(done.json["status"] as? String == "completed" && done.json["parent_backup_id"] as? String == firstID, "\(done.text)")
            let nextImage = try #require((done.json["disks"] as? [[String: Any]])?.first?["qcow2_path"] as? String)
            #expect(try mustRun(["qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", nextImage, image]).contains("identical"))
        }
    }
}
