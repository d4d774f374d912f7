import Catalog
import Foundation
import Logging
import SendenseCore
import Synchronization
import VSphere

/// VM restore into vCenter: a new VM made from the hardware a VMware
/// backup kept (CPU, memory, firmware, guest id, controllers, NICs on a
/// chosen network, disks) on a chosen host and datastore, through
/// `ImportVApp`; each disk is streamed from the restore point as a
/// streamOptimized VMDK into the import lease (no local copy). A restore job
/// like the others: listed, cancellable, its point held while it reads. One
/// that fails, is cancelled or is cut short by a restart leaves no VM behind.
public actor VCenterRestores {
    public struct Request: Sendable {
        public var backupID: String
        /// nil: `<vm>-restored-<short id>`.
        public var name: String?
        public var credentialID: Int64
        /// The ESXi host's name; nil: the first connected host that sees the datastore.
        public var host: String?
        public var datastore: String
        /// nil: each NIC on the network it was on; `none`: no NIC; else a network (port group) of the host.
        public var network: String?
        public var keepMACs: Bool
        public var powerOn: Bool

        public init(backupID: String, name: String?, credentialID: Int64, host: String?, datastore: String, network: String?,
                    keepMACs: Bool, powerOn: Bool) {
            self.backupID = backupID
            self.name = name
            self.credentialID = credentialID
            self.host = host
            self.datastore = datastore
            self.network = network
            self.keepMACs = keepMACs
            self.powerOn = powerOn
        }
    }

    private let catalog: CatalogDatabase
    private let jobs: Jobs
    private let credentials: VMwareCredentials
    private let dataDirectory: String
    private let logger: Logger
    /// Names of restores being checked: two requests cannot both take one.
    private var claimedNames: Set<String> = []

    public init(catalog: CatalogDatabase, jobs: Jobs, credentials: VMwareCredentials, dataDirectory: String, logger: Logger) {
        self.catalog = catalog
        self.jobs = jobs
        self.credentials = credentials
        self.dataDirectory = dataDirectory
        self.logger = logger
    }

    /// Checks everything vCenter can be asked before anything is made (the
    /// point, the name, the host, the datastore, the networks), then starts
    /// the restore job; answers its row and the job.
    public func start(_ request: Request) async throws -> (VMRestoreRecord, Job) {
        let id = Jobs.newID(.restore)
        let point = try await RecoverablePoint.load(request.backupID, toBe: "restored into vCenter", configuration: .vmwareHardware,
                                                    catalog: catalog, dataDirectory: dataDirectory)
        let hardware: VMwareHardware
        do {
            hardware = try VMwareHardware(json: point.configuration)
        } catch {
            throw RecoveryError.notRecoverable("the VMware configuration kept with backup \(request.backupID) cannot be read: \(error)")
        }
        let name = request.name ?? "\(point.backup.vmName)-restored-\(id.dropFirst("restore-".count).prefix(8))"
        if let problem = RecoverablePoint.domainNameProblem(name) { throw RecoveryError.invalid(problem) }
        if let network = request.network, network != "none", let problem = NameRules.problem(with: network, field: "network") {
            throw RecoveryError.invalid(problem)
        }
        let credential = try await credentials.credential(request.credentialID)
        let login: VCenterLogin
        do {
            login = try credentials.login(for: credential)
        } catch {
            throw VMwareError.undecryptable(credential.name)
        }
        guard !claimedNames.contains(name) else { throw RecoveryError.nameTaken(name) }
        claimedNames.insert(name)
        defer { claimedNames.remove(name) }
        if try await catalog.domainNameHeld(name) { throw RecoveryError.nameTaken(name) }

        let (placement, disks, networks) = try await vCenterChecks(request, name: name, point: point, hardware: hardware, login: login,
                                                                   host: credential.vcenterHost)
        var kept = hardware
        kept.disks = disks.map(\.hardware)
        let spec = VMwareImportSpec(name: name, annotation: "Restored by Sendense (\(id)) from backup \(point.backup.backupId) of \(point.backup.vmName)",
                                    hardware: kept, networks: networks, keepMACs: request.keepMACs)
        let record = VMRestoreRecord(
            jobId: id, backupId: point.backup.backupId, vmName: point.backup.vmName, domainName: name, libvirtUri: nil,
            vcenter: .init(credentialId: credential.id ?? request.credentialID, datacenter: placement.datacenter, host: placement.hostName,
                           datastore: placement.datastore),
            storagePool: nil, network: request.network, keepMacs: request.keepMACs, start: request.powerOn,
            disks: disks.map { .init(target: $0.hardware.label, diskIndex: $0.index, path: "[\(placement.datastore)]") })
        // Written before the job: a restart finds what the job may have left.
        try await catalog.saveVMRestore(record)
        let images = disks.map(\.image)
        let total = disks.reduce(UInt64(0)) { $0 + $1.size }
        let job = await jobs.start(.restore, id: id, vmName: point.backup.vmName, detail: "backup \(point.backup.backupId) as vCenter VM \(name)",
                                   restoring: (point.backup.backupId, nil), on: BlockingPool.jobs) { progress in
            progress.setTotal(total)
            return try await self.run(record, spec: spec, placement: placement, images: images, login: login, progress: progress)
        }
        logger.notice("VM restore \(id): backup \(point.backup.backupId) as vCenter VM \(name) on \(placement.hostName), datastore \(placement.datastore)")
        return (record, job)
    }

    private struct PlannedDisk: Sendable {
        var index: Int
        var image: String
        /// The guest's size of the image.
        var size: UInt64
        var hardware: VMwareHardware.Disk
    }

    /// What vCenter must have for the restore: the host and datastore, no VM
    /// of that name, the networks. Each backed-up disk is matched to its
    /// kept device by label (disks left out of the backup are left out).
    private func vCenterChecks(_ request: Request, name: String, point: RecoverablePoint, hardware: VMwareHardware, login: VCenterLogin,
                               host: String) async throws -> (VMwarePlacement, [PlannedDisk], [Int: VMwareNetwork]) {
        var disks: [PlannedDisk] = []
        for disk in point.disks {
            guard var device = hardware.disks.first(where: { $0.label == disk.label }) else {
                throw RecoveryError.notRecoverable("disk \(disk.index) (\(disk.label)) of backup \(request.backupID) is not in the VM configuration kept with it")
            }
            // The VM's disk must hold the whole image (a disk grown after the configuration was read).
            let size = try await BlockingPool.shared.run { try DiskRestore.virtualSize(of: disk.image) }
            device.capacityBytes = max(device.capacityBytes, Int64(size))
            disks.append(PlannedDisk(index: disk.index, image: disk.image, size: size, hardware: device))
        }
        do {
            return try await VSphereClient.with(login) { client in
                let placement = try await client.placement(host: request.host, datastore: request.datastore)
                let existing = try await client.inventory(types: ["VirtualMachine"], [PropertySpec(type: "VirtualMachine", paths: ["name"])])
                if existing.contains(where: { $0.properties["name"]?.text == name }) {
                    throw RecoveryError.nameTaken(name)
                }
                var networks: [Int: VMwareNetwork] = [:]
                let known = placement.networks.keys.sorted().joined(separator: ", ")
                for nic in hardware.nics {
                    switch request.network {
                    case "none":
                        continue
                    case let chosen?:
                        guard let network = placement.networks[chosen] else {
                            throw RecoveryError.invalid("host \(placement.hostName) is on no network named \(chosen) (it is on: \(known))")
                        }
                        networks[nic.key] = network
                    case nil:
                        guard let network = placement.network(of: nic) else {
                            throw RecoveryError.invalid("\(nic.label) was on network \(nic.network ?? "(none)"), which host \(placement.hostName) "
                                + "is not on: choose a network (\(known)) or none")
                        }
                        networks[nic.key] = network
                    }
                }
                return (placement, disks, networks)
            }
        } catch let error as VSphereError {
            if case .notFound = error { throw RecoveryError.invalid("\(error)") }
            throw VMwareError.unreachable(host: host, reason: "\(error)")
        }
    }

    /// The job's work: the VM created, each disk uploaded into the lease,
    /// the lease completed (and the VM powered on). Any failure or a cancel
    /// aborts the lease and destroys the VM.
    private func run(_ record: VMRestoreRecord, spec: VMwareImportSpec, placement: VMwarePlacement, images: [String], login: VCenterLogin,
                     progress: JobProgress) async throws -> JobEnd {
        var record = record
        do {
            record = try await VSphereClient.with(login) { [record, catalog] client in
                var record = record
                let (lease, vm) = try await client.importVM(spec, at: placement)
                record.vcenter?.vmMoref = vm.value
                try await catalog.saveVMRestore(record)
                do {
                    let urls = try await client.leaseDisks(lease)
                    guard urls.count == images.count else {
                        throw VSphereError.badResponse("the import lease has \(urls.count) disk(s) for the \(images.count) restored")
                    }
                    // vCenter drops a lease it hears nothing of for a few minutes.
                    let keepAlive = Task {
                        while !Task.isCancelled {
                            try? await Task.sleep(for: .seconds(30))
                            try? await client.leaseProgress(lease, percent: Int(progress.percent))
                        }
                    }
                    defer { keepAlive.cancel() }
                    for (image, url) in zip(images, urls) {
                        try await Self.upload(image, to: url, client: client, progress: progress)
                    }
                    try await client.leaseProgress(lease, percent: 100)
                    try await client.completeLease(lease)
                } catch {
                    await client.abortLease(lease, reason: "the Sendense restore stopped: \(error)")
                    throw error
                }
                let uuid = try? await client.properties(of: vm, ["config.instanceUuid"])["config.instanceUuid"]?.text
                record.domainUuid = uuid
                try Task.checkCancellation()
                if record.start { try await client.powerOn(vm) }
                return record
            }
            record.settled = true
            try await catalog.saveVMRestore(record)
        } catch {
            // Undone even when the job was cancelled: from a task of its own.
            await Task { [record] in await self.undo(record) }.value
            throw error
        }
        let started = record.start ? " and powered on" : ""
        logger.notice("VM restore \(record.jobId): vCenter VM \(record.domainName) created\(started)")
        return .completed("vCenter VM \(record.domainName) created\(started) on \(record.vcenter?.host ?? "?") from backup \(record.backupId), "
            + "\(record.disks.count) disk(s)")
    }

    /// One disk as a VMDK download is made (the chain read and deflated on
    /// the blocking pool), each piece sent once the previous one is on the wire.
    private static func upload(_ path: String, to url: NFCDeviceURL, client: VSphereClient, progress: JobProgress) async throws {
        let disk = try await DiskDownload.open(path: path, as: .vmdk)
        let counted = Mutex<UInt64>(0)
        try await client.upload(url) { send in
            try await disk.forEachPiece(reached: { offset in
                progress.add(counted.withLock { done in
                    defer { done = offset }
                    return offset - done
                })
            }) { piece in
                try Task.checkCancellation()
                try await send(piece)
            }
        }
    }

    /// Removes the VM a restore that did not complete created: by its id,
    /// or by name and the job id in its annotation when a kill came before
    /// the id was recorded. Settled once vCenter confirms; a vCenter that
    /// cannot be reached leaves it for the next start.
    func undo(_ record: VMRestoreRecord) async {
        var record = record
        guard let target = record.vcenter else { return }
        do {
            let credential = try await credentials.credential(target.credentialId)
            try await VSphereClient.with(try credentials.login(for: credential)) { client in
                var vms = try await client.virtualMachines(named: record.domainName, annotated: "(\(record.jobId))")
                if let moref = target.vmMoref, !vms.contains(where: { $0.value == moref }) {
                    vms.append(ManagedObjectReference(type: "VirtualMachine", value: moref))
                }
                for vm in vms {
                    do {
                        try await client.destroyVM(vm)
                    } catch let error as VSphereError {
                        // Gone already: an aborted lease removes what it imported.
                        if error.isManagedObjectNotFound { continue }
                        throw error
                    }
                }
            }
        } catch VMwareError.credentialNotFound {
            logger.error("VM restore \(record.jobId): its vCenter credential is gone; VM \(record.domainName) may remain in vCenter")
        } catch {
            logger.error("VM restore \(record.jobId): could not remove vCenter VM \(record.domainName): \(error); tried again at the next start")
            return
        }
        record.settled = true
        try? await catalog.saveVMRestore(record)
    }

    /// After a restart: restores into vCenter the previous process cut short are undone.
    public func resume() async -> [String] {
        var done: [String] = []
        for record in (try? await catalog.unsettledVMRestores()) ?? [] where record.vcenter != nil {
            await undo(record)
            done.append("VM restore \(record.jobId) was interrupted by a hub restart: vCenter VM \(record.domainName) was removed")
        }
        return done
    }
}
