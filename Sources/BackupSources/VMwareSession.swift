import Foundation
import NBD
import SendenseCore
import VSphere

#if canImport(Glibc)
import Glibc
#endif

/// One backup's conversation with vCenter, through one logged-in client.
struct VMwareSession {
    let source: VMwareSource
    let client: VSphereClient
    let owner: NBDServerProcess.Owner
    var vmMoref: String { source.vmMoref }
    var transport: VMwareSource.Transport { source.transport }
    var socketDirectory: String { source.socketDirectory }
    typealias Disk = VMwareSource.Disk

    func run<Result: Sendable>(
        backupID: String, parentCheckpoints: [Int: String]?,
        _ body: (BackupSession) async throws -> (result: Result, committed: Bool)
    ) async throws -> Result {
        var notes: [String] = []
        let vm = try await client.virtualMachine(vmMoref)
        if !vm.changeTrackingEnabled {
            try await client.enableChangeTracking(vm: vmMoref)
            notes.append("Changed Block Tracking was off for \(vm.name): turned on, this backup is full")
        }
        let snapshot = try await takeSnapshot(vm: vm, backupID: backupID, notes: &notes)
        do {
            let result = try await withSnapshot(snapshot, vm: vm, parentCheckpoints: parentCheckpoints, notes: notes, body)
            await removeSnapshot(snapshot)
            return result
        } catch {
            await removeSnapshot(snapshot)
            throw error
        }
    }

    /// Quiesced when the VM runs (consistent filesystems through VMware Tools);
    /// when the guest cannot quiesce, a crash-consistent snapshot with a note.
    private func takeSnapshot(vm: VirtualMachineInfo, backupID: String, notes: inout [String]) async throws -> ManagedObjectReference {
        let name = VMwareSource.snapshotPrefix + backupID
        let description = "Sendense backup \(backupID); removed when the backup ends"
        guard vm.powerState == "poweredOn" else {
            return try await client.createSnapshot(vm: vmMoref, name: name, description: description, quiesce: false)
        }
        do {
            return try await client.createSnapshot(vm: vmMoref, name: name, description: description, quiesce: true)
        } catch let error as VSphereError {
            guard case .taskFailed = error else { throw error }
            notes.append("the guest could not be quiesced (\(error)): crash-consistent snapshot")
            return try await client.createSnapshot(vm: vmMoref, name: name, description: description, quiesce: false)
        }
    }

    /// Removal must happen even when the backup was cancelled: it runs in a
    /// task of its own, and is tried three times (a busy host refuses now and
    /// then). One that still fails is left to the next hub start, which removes
    /// every `sendense-*` snapshot no running backup owns.
    private func removeSnapshot(_ snapshot: ManagedObjectReference) async {
        let client = self.client
        await Task {
            for attempt in 1...3 {
                do {
                    try await client.removeSnapshot(snapshot)
                    return
                } catch let error as VSphereError {
                    if error.isManagedObjectNotFound { return }
                } catch {}
                if attempt < 3 { try? await Task.sleep(for: .seconds(attempt)) }
            }
        }.value
    }

    private func withSnapshot<Result: Sendable>(
        _ snapshot: ManagedObjectReference, vm: VirtualMachineInfo, parentCheckpoints: [Int: String]?, notes: [String],
        _ body: (BackupSession) async throws -> (result: Result, committed: Bool)
    ) async throws -> Result {
        let (hardware, atSnapshot) = try await client.snapshotConfiguration(snapshot)
        var planned: [(disk: Disk, info: VirtualDiskInfo, plan: CopyPlan)] = []
        for disk in source.disksToCopy {
            guard let info = atSnapshot.first(where: { $0.key == disk.key }) else {
                throw SourceError.diskNotFound("\(disk.label) (device key \(disk.key)) is no longer part of \(vm.name): discover the VM again")
            }
            var diskNotes = notes
            let plan = try await plan(for: disk, info: info, snapshot: snapshot, parent: parentCheckpoints?[disk.index], notes: &diskNotes)
            planned.append((disk, info, plan))
        }
        let keepAlive = Task { [client, interval = source.keepAliveInterval] in await client.keepAlive(every: interval) }
        defer { keepAlive.cancel() }
        let configuration = VMConfiguration(format: .vmwareHardware, document: try hardware.json())
        let outcome = try await withExports(planned[...], snapshot: snapshot) { session in
            var session = session
            session.configuration = configuration
            return try await body(session)
        }
        return outcome.result
    }

    /// Full: every allocated area (changeId "*"); incremental: what changed
    /// since the parent's change id. A change id vCenter rejects (CBT was
    /// reset) gives a full backup, never a wrong incremental.
    private func plan(for disk: Disk, info: VirtualDiskInfo, snapshot: ManagedObjectReference, parent: String?,
                      notes: inout [String]) async throws -> CopyPlan {
        let capacity = UInt64(info.capacityBytes)
        func extents(_ areas: [ChangedArea]) -> [SourceExtent] { areas.map { SourceExtent(offset: $0.start, length: $0.length) } }
        guard info.changeId != nil else {
            notes.append("\(disk.label) reports no change id: every block is copied")
            return .listed([SourceExtent(offset: 0, length: capacity)], incremental: false, reason: notes.joined(separator: "; "))
        }
        if let parent {
            do {
                let areas = try await client.changedAreas(vm: vmMoref, snapshot: snapshot, deviceKey: disk.key, capacity: capacity, since: parent)
                return .listed(extents(areas), incremental: true, reason: notes.isEmpty ? nil : notes.joined(separator: "; "))
            } catch let error as VSphereError {
                guard case .fault(let fault) = error, fault.type == "InvalidArgument" || fault.type == "FileFault" else { throw error }
                notes.append("vCenter no longer knows the change id of the last backup of \(disk.label) (CBT was reset: \(fault)): full backup")
            }
        }
        let areas = try await client.changedAreas(vm: vmMoref, snapshot: snapshot, deviceKey: disk.key, capacity: capacity, since: "*")
        return .listed(extents(areas), incremental: false, reason: notes.isEmpty ? nil : notes.joined(separator: "; "))
    }

    private func withExports<Result: Sendable>(
        _ planned: ArraySlice<(disk: Disk, info: VirtualDiskInfo, plan: CopyPlan)>, snapshot: ManagedObjectReference,
        _ body: (BackupSession) async throws -> (result: Result, committed: Bool),
        ready: [DiskExport] = []
    ) async throws -> (result: Result, committed: Bool) {
        guard let next = planned.first else { return try await body(BackupSession(exports: ready)) }
        let (plugin, parameters, secrets) = try await nbdkitCommand(for: next.info, snapshot: snapshot)
        defer { for file in secrets { unlink(file) } }
        return try await NBDServerProcess.withNbdkit(plugin: plugin, parameters: parameters, socketDirectory: socketDirectory, owner: owner) { endpoint in
            let source = SourceDisk(index: next.disk.index, label: next.disk.label, capacityBytes: UInt64(next.info.capacityBytes),
                                    location: next.info.fileName)
            let export = DiskExport(disk: source, endpoint: endpoint, plan: next.plan, newCheckpoint: next.info.changeId ?? "")
            return try await withExports(planned.dropFirst(), snapshot: snapshot, body, ready: ready + [export])
        }
    }

    /// The nbdkit plugin and parameters reading one disk of the snapshot, and
    /// the secret files written for it (0600, removed after). Secrets never
    /// appear on a command line, where any local user could read them.
    func nbdkitCommand(for disk: VirtualDiskInfo, snapshot: ManagedObjectReference) async throws -> (String, [String], [String]) {
        switch transport {
        case .https:
            // The snapshot froze the disk file: with no earlier snapshot its flat extent is the whole disk.
            guard !disk.hasParent else {
                throw SourceError.exportFailed("\(disk.label) is a delta of an older snapshot: the https transport reads flat disks only; remove the VM's snapshots or use the vddk transport")
            }
            guard let datastore = disk.datastoreName else { throw SourceError.exportFailed("\(disk.label) has no datastore path: \(disk.fileName)") }
            let url = client.endpoint.baseURL + "/folder/" + VMwareSource.encodePath(disk.flatExtentPath)
                + "?dcPath=" + VMwareSource.encodeQuery(source.datacenter) + "&dsName=" + VMwareSource.encodeQuery(datastore)
            let cookie = try writeSecret(try await client.sessionCookie(), name: "cookie")
            var parameters = ["url=" + url, "cookie=+" + cookie, "timeout=120"]
            var secrets = [cookie]
            switch client.endpoint.trust {
            case .insecure:
                parameters.append("sslverify=false")
            case .pinned:
                guard let pem = await client.pinnedChainPEM else { throw SourceError.exportFailed("the pinned certificate of \(client.endpoint.host) is unknown") }
                let file = try writeSecret(pem, name: "ca")
                parameters.append("cainfo=" + file)
                secrets.append(file)
            case .systemRoots:
                break
            }
            return ("curl", parameters, secrets)
        case .vddk(let libdir):
            let passwordFile = try writeSecret(source.login.password, name: "password")
            var parameters = ["server=" + client.endpoint.host, "port=\(client.endpoint.port)", "user=" + source.login.username,
                              "password=+" + passwordFile, "vm=moref=" + vmMoref, "snapshot=" + snapshot.value,
                              "file=" + disk.fileName, "transports=nbdssl:nbd"]
            if let libdir { parameters.append("libdir=" + libdir) }
            if case .pinned(let thumbprint) = client.endpoint.trust, let shown = CertificateTrust.displayed(thumbprint: thumbprint) {
                parameters.append("thumbprint=" + shown)
            }
            return ("vddk", parameters, [passwordFile])
        case .ssh:
            guard !disk.hasParent else {
                throw SourceError.exportFailed("\(disk.label) is a delta of an older snapshot: the ssh transport reads flat disks only; remove the VM's snapshots or use the vddk transport")
            }
            guard let datastore = disk.datastoreName else { throw SourceError.exportFailed("\(disk.label) has no datastore path: \(disk.fileName)") }
            guard let host = try await client.hostName(ofVM: vmMoref) else {
                throw SourceError.exportFailed("the ESXi host of \(vmMoref) is unknown")
            }
            let passwordFile = try writeSecret(source.login.password, name: "password")
            let parameters = ["host=" + host, "user=" + source.login.username, "password=+" + passwordFile,
                              "path=/vmfs/volumes/\(datastore)/\(disk.flatExtentPath)"]
            return ("ssh", parameters, [passwordFile])
        }
    }

    private func writeSecret(_ secret: String, name: String) throws -> String {
        let path = socketDirectory + "/\(name)-\(UUID().uuidString.prefix(8))"
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw SourceError.exportFailed("cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(secret.utf8)
        guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            unlink(path)
            throw SourceError.exportFailed("cannot write \(path)")
        }
        return path
    }
}
