import BackupSources
import Catalog
import Foundation
import Libvirt
import Logging
import SendenseCore

/// Instant recovery: a VM started from a restore point within seconds,
/// whatever the size of its disks. The point's images are the read-only
/// backing of one overlay per disk, served by `RecoveryDiskServer`; the VM
/// is a transient libvirt domain made from the configuration stored with
/// the backup. While a session runs, its point and the points it builds on
/// can be neither deleted nor merged by retention. Stopping it destroys the
/// VM and discards its writes. Sessions outlive the hub process (the VM and
/// the disk server run on); a restarted hub takes the running ones back and
/// ends what a kill left half done (`resume`).
public actor InstantRecoveries {
    /// What an instant recovery is asked to do.
    public struct Request: Sendable {
        public var backupID: String
        /// The new domain's name; nil: `<vm>-recovered-<short id>`.
        public var name: String?
        /// This host's libvirt daemon (the overlays and the disk server are local).
        public var libvirtURI: String
        /// absent (as stored), `none`, or a libvirt network's name.
        public var network: String?
        /// What the session is for, in its domain's description (a boot check's sandbox says so).
        public var purpose: String?

        public init(backupID: String, name: String?, libvirtURI: String = "qemu:///system", network: String? = nil, purpose: String? = nil) {
            self.backupID = backupID
            self.name = name
            self.libvirtURI = libvirtURI
            self.network = network
            self.purpose = purpose
        }
    }

    private let catalog: CatalogDatabase
    private let jobs: Jobs
    private let dataDirectory: String
    private let runDirectory: String
    private let logger: Logger
    /// Domain names of sessions being started: two requests cannot both take one.
    private var claimedNames: Set<String> = []
    /// Sessions a stop is working on.
    private var stopping: Set<String> = []

    public init(catalog: CatalogDatabase, jobs: Jobs, dataDirectory: String, runDirectory: String, logger: Logger) {
        self.catalog = catalog
        self.jobs = jobs
        self.dataDirectory = dataDirectory
        self.runDirectory = runDirectory
        self.logger = logger
    }

    /// Where sessions keep their overlays: the hub's data dir (QEMU never opens them).
    var folderRoot: String { dataDirectory + "/recoveries" }

    // MARK: starting

    /// Starts the VM of a restore point and answers the running session.
    /// What is wrong with the request is refused before anything starts; a
    /// start that fails later leaves nothing running and a failed session.
    public func start(_ request: Request) async throws -> RecoveryRecord {
        let id = "recovery-" + UUID().uuidString.prefix(8).lowercased()
        let point = try await RecoverablePoint.load(request.backupID, toBe: "recovered", catalog: catalog, dataDirectory: dataDirectory)
        let name = request.name ?? "\(point.backup.vmName)-recovered-\(id.dropFirst("recovery-".count))"
        if let problem = RecoverablePoint.domainNameProblem(name) { throw RecoveryError.invalid(problem) }
        let network = try RecoveredDomain.Network(choice: request.network)
        guard LibvirtURI.local.contains(request.libvirtURI) else {
            throw RecoveryError.notRecoverable("instant recovery runs the VM on the hub's own host (\(LibvirtURI.local.joined(separator: " or "))): "
                + "its disks are served from here")
        }
        guard !claimedNames.contains(name) else { throw RecoveryError.nameTaken(name) }
        claimedNames.insert(name)
        defer { claimedNames.remove(name) }
        let connection = try await RecoverablePoint.connection(request.libvirtURI, forNewDomain: name, catalog: catalog)

        var record = RecoveryRecord(recoveryId: id, backupId: point.backup.backupId, vmName: point.backup.vmName, domainName: name,
                                    libvirtUri: request.libvirtURI, network: request.network,
                                    folder: folderRoot + "/" + id, workFolder: QemuWorkFolder.recoveryParent(runDirectory: runDirectory) + "/" + id)
        let domain: RecoveredDomain
        do {
            domain = try RecoveredDomain(
                storedXML: point.configuration, name: name,
                disks: point.disks.map { .init(target: $0.label, source: .nbd(socket: RecoveryDiskServer.socket(in: record.workFolder),
                                                                              exportName: RecoveryDiskServer.exportName(of: $0.index))) },
                consoleLog: record.workFolder + "/console.log", network: network,
                // A screen for every recovered VM: the Recoveries page and boot checks show it.
                withScreen: true,
                description: "\(request.purpose ?? "Instant recovery") \(id) of \(point.backup.vmName) from backup \(point.backup.backupId) (Sendense)")
        } catch {
            throw RecoveryError.notRecoverable("\(error)")
        }
        try RecoverablePoint.checkHostRuns(domain)
        let owner: (uid: UInt32, gid: UInt32)?
        do {
            owner = try await connection.qemuProcessOwner(domainType: domain.domainType)
        } catch {
            throw RecoveryError.hostUnreachable("\(error)")
        }

        try await catalog.saveRecovery(record)
        await adopt(id)
        do {
            try await BlockingPool.shared.run { [folder = record.folder, root = folderRoot] in
                try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            }
            _ = try RecoveryDiskServer.makeWorkFolder(runDirectory: runDirectory, recoveryID: id, owner: owner)
            let server = try await RecoveryDiskServer.start(disks: point.disks.map { .init(index: $0.index, image: $0.image) },
                                                            folder: record.folder, workFolder: record.workFolder, socketOwner: owner)
            record.serverPid = server.pid
            record.serverStartTime = Int64(server.startTime)
            try await catalog.saveRecovery(record)
            let started = try await connection.startTransientDomain(xml: domain.xml)
            record.domainUuid = started.uuid
            record.state = .running
            try await catalog.saveRecovery(record)
        } catch {
            await tearDown(record)
            record.state = .failed
            record.errorMessage = "\(error)"
            record.endedAt = Date()
            try? await catalog.saveRecovery(record)
            await jobs.release(id)
            logger.error("instant recovery \(id) of backup \(point.backup.backupId) failed to start: \(error)")
            throw RecoveryError.startFailed("\(error)")
        }
        let leftOut = domain.leftOut.isEmpty ? "" : " (disks not in the backup left out: \(domain.leftOut.joined(separator: ", ")))"
        logger.notice("instant recovery \(id): domain \(name) runs from backup \(point.backup.backupId)\(leftOut)")
        return record
    }

    // MARK: stopping

    /// Destroys the VM, stops its disk server and discards its overlays.
    public func stop(_ id: String) async throws -> RecoveryRecord {
        guard var record = try await catalog.recovery(id: id) else { throw RecoveryError.notFound(id) }
        guard record.state == .running, !stopping.contains(id) else { throw RecoveryError.notActive(id, stopping.contains(id) ? .stopping : record.state) }
        stopping.insert(id)
        defer { stopping.remove(id) }
        record.state = .stopping
        try await catalog.saveRecovery(record)
        await tearDown(record)
        record.state = .stopped
        record.endedAt = Date()
        // Recorded even when the request that asked was cancelled meanwhile.
        try await Task { [record] in try await catalog.saveRecovery(record) }.value
        await jobs.release(id)
        logger.notice("instant recovery \(id) stopped: domain \(record.domainName) destroyed, its writes discarded")
        return record
    }

    /// Everything a session started, gone: its domain (only the one it
    /// started, by UUID), its disk server, its folders. Each step is tried
    /// whatever the others did.
    private func tearDown(_ record: RecoveryRecord) async {
        if let uuid = record.domainUuid {
            do {
                let domain = try await LibvirtConnection.open(record.libvirtUri).domain(uuid: uuid)
                try await domain.destroy()
            } catch let error as LibvirtError where error.code == LibvirtError.noDomain {
                // Ended already (the guest powered off).
            } catch {
                logger.error("recovery \(record.recoveryId): could not stop domain \(record.domainName): \(error)")
            }
        }
        if let pid = record.serverPid, let start = record.serverStartTime {
            await RecoveryDiskServer.stop(.init(pid: pid, startTime: UInt64(start)))
        }
        await BlockingPool.shared.run { [record] in
            try? FileManager.default.removeItem(atPath: record.folder)
            try? FileManager.default.removeItem(atPath: record.workFolder)
        }
    }

    // MARK: migrating

    /// Copies the running VM's disks into new qcow2 files in `directory`
    /// (`<domain>-<disk>.qcow2`) while the guest runs and writes, switches the
    /// VM to them without a pause, and defines the domain for good: the
    /// session ends `migrated`, its disk server and overlays gone. Answers at
    /// once (the copy runs in the background); a copy that fails leaves the
    /// session running from the backup, its partial files removed.
    public func migrate(_ id: String, to directory: String) async throws -> RecoveryRecord {
        guard var record = try await catalog.recovery(id: id) else { throw RecoveryError.notFound(id) }
        guard record.state == .running, !stopping.contains(id) else { throw RecoveryError.notActive(id, stopping.contains(id) ? .stopping : record.state) }
        guard let uuid = record.domainUuid else { throw RecoveryError.notActive(id, record.state) }
        let domain: LibvirtDomain
        let targets: [String]
        do {
            domain = try await LibvirtConnection.open(record.libvirtUri).domain(uuid: uuid)
            targets = try DomainDescription(xml: try await domain.xml()).disks.filter { $0.sourceType == "network" }.map(\.target)
        } catch {
            throw RecoveryError.hostUnreachable("cannot read domain \(record.domainName): \(error)")
        }
        let points = RestorePoints(catalog: catalog, dataDirectory: dataDirectory)
        var files: [(target: String, path: String)] = []
        for target in targets {
            // New files only, in a folder that exists, outside every repository and the data dir.
            files.append((target, try await points.fileTarget(directory + "/\(record.domainName)-\(target).qcow2")))
        }
        record.state = .migrating
        record.migratedTo = directory
        record.errorMessage = nil
        try await catalog.saveRecovery(record)
        Task { [record, files] in await self.copyAndSwitch(record, domain: domain, files: files) }
        logger.notice("instant recovery \(id): copying \(files.count) disk(s) of \(record.domainName) to \(directory)")
        return record
    }

    private func copyAndSwitch(_ record: RecoveryRecord, domain: LibvirtDomain, files: [(target: String, path: String)]) async {
        var record = record
        var switched: Set<String> = []
        do {
            for file in files {
                try await domain.startCopy(of: file.target, destinationXML: RecoveredDomain.copyDestination(file: file.path))
            }
            // Ready once a copy has caught up; QEMU then mirrors each write to both until the switch.
            for file in files {
                while true {
                    guard let job = try await domain.blockJob(of: file.target) else {
                        throw RecoveryError.startFailed("the copy of \(file.target) ended before it was ready")
                    }
                    if job.total > 0 && job.done == job.total { break }
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            for file in files {
                try await domain.endBlockJob(of: file.target, pivot: true)
                switched.insert(file.target)
            }
            let definition = try RecoveredDomain.definition(liveXML: try await domain.xml(), leaving: record.workFolder)
            try await domain.connection.define(xml: definition)
            if let pid = record.serverPid, let start = record.serverStartTime {
                await RecoveryDiskServer.stop(.init(pid: pid, startTime: UInt64(start)))
            }
            await BlockingPool.shared.run { [record] in
                try? FileManager.default.removeItem(atPath: record.folder)
                try? FileManager.default.removeItem(atPath: record.workFolder)
            }
            record.state = .migrated
            record.endedAt = Date()
            try? await catalog.saveRecovery(record)
            await jobs.release(record.recoveryId)
            logger.notice("instant recovery \(record.recoveryId): domain \(record.domainName) runs from its own disks in \(record.migratedTo ?? "")")
        } catch {
            await abandonCopies(of: domain, files.filter { !switched.contains($0.target) })
            // The VM goes on; disks not switched read the backup as before (a
            // switched one is the VM's own file now), so the session keeps running.
            record.state = .running
            record.errorMessage = "migration failed: \(error)"
            try? await catalog.saveRecovery(record)
            logger.error("instant recovery \(record.recoveryId): migration failed: \(error)")
        }
    }

    /// Ends the copies of these disks and removes their files.
    private func abandonCopies(of domain: LibvirtDomain, _ files: [(target: String, path: String)]) async {
        for file in files {
            try? await domain.endBlockJob(of: file.target, pivot: false)
            try? FileManager.default.removeItem(atPath: file.path)
        }
    }

    // MARK: what sessions hold

    /// Active sessions by the point they run from.
    public func pointsInUse() async throws -> [String: String] {
        Dictionary(try await catalog.activeRecoveries().map { ($0.backupId, $0.recoveryId) }, uniquingKeysWith: { first, _ in first })
    }

    /// Refuses when a running session reads any of `backupIDs` (points to be
    /// deleted or rewritten, with every point built on them).
    public func checkNotInUse(_ backupIDs: [String]) async throws {
        let used = try await pointsInUse()
        if let backupID = backupIDs.first(where: { used[$0] != nil }) {
            throw RecoveryError.pointInUse(backupID: backupID, recoveryID: used[backupID]!)
        }
    }

    /// The session of a VM that runs from one of its points, if any.
    public func activeRecovery(ofVM vmName: String) async -> String? {
        (try? await catalog.activeRecoveries())?.first { $0.vmName == vmName }?.recoveryId
    }

    /// How the session's domain stands now (running or shut off),
    /// or nil when it is gone or cannot be asked.
    public func domainState(of record: RecoveryRecord) async -> RecoveredVMState? {
        guard record.state.isActive, let uuid = record.domainUuid,
              let domain = try? await LibvirtConnection.open(record.libvirtUri).domain(uuid: uuid),
              let active = try? await domain.isActive() else { return nil }
        return active ? .running : .shutOff
    }

    /// The running VM's screen as PNG: the console an admin looks at on the
    /// Recoveries page. Refused when the session is not running.
    public func screen(of id: String) async throws -> [UInt8] {
        guard let record = try await catalog.recovery(id: id) else { throw RecoveryError.notFound(id) }
        guard record.state == .running, let uuid = record.domainUuid else { throw RecoveryError.notActive(id, record.state) }
        do {
            return try await LibvirtConnection.open(record.libvirtUri).domain(uuid: uuid).screenPNG()
        } catch {
            throw RecoveryError.hostUnreachable("cannot capture the screen of \(record.domainName): \(error)")
        }
    }

    // MARK: VMs that ended

    /// Ends the running sessions whose VM is gone: a recovered domain is
    /// transient, so a guest that powers off (or a `virsh destroy`) ends it,
    /// and its disk server and overlays would otherwise stay. Run every
    /// janitor interval; answers what it did, one line each.
    public func endVanished() async -> [String] {
        var done: [String] = []
        for var record in (try? await catalog.activeRecoveries()) ?? [] where record.state == .running && !stopping.contains(record.recoveryId) {
            guard let uuid = record.domainUuid else { continue }
            do {
                _ = try await LibvirtConnection.open(record.libvirtUri).domain(uuid: uuid)
                continue
            } catch let error as LibvirtError where error.code == LibvirtError.noDomain {
                // Gone: ended below.
            } catch {
                continue  // libvirt cannot be asked: nothing is known
            }
            stopping.insert(record.recoveryId)
            defer { stopping.remove(record.recoveryId) }
            await tearDown(record)
            record.state = .stopped
            record.errorMessage = "its VM was powered off (a recovered VM ends with its guest); what it wrote is discarded"
            record.endedAt = Date()
            try? await catalog.saveRecovery(record)
            await jobs.release(record.recoveryId)
            done.append("instant recovery \(record.recoveryId) ended: domain \(record.domainName) was powered off")
        }
        return done
    }

    // MARK: after a restart

    /// Takes back the sessions the previous hub process left: a running one
    /// whose disk server and domain both still run is adopted again; one cut
    /// short while starting or stopping, or that lost its server or domain,
    /// is ended and everything it left removed; overlay folders no session
    /// owns are removed. Answers what it did, one line each.
    public func resume() async -> [String] {
        var done: [String] = []
        let active = (try? await catalog.activeRecoveries()) ?? []
        for var record in active {
            let server = record.serverPid.flatMap { pid in record.serverStartTime.map { RecoveryDiskServer.Process(pid: pid, startTime: UInt64($0)) } }
            if record.state == .migrating, server?.isRunning == true, await domainState(of: record) != nil,
               let uuid = record.domainUuid, let domain = try? await LibvirtConnection.open(record.libvirtUri).domain(uuid: uuid),
               let description = try? DomainDescription(xml: try await domain.xml()) {
                // A copy cut short by the restart is abandoned; the VM goes on from the backup.
                let copying = description.disks.filter { $0.sourceType == "network" }.map(\.target)
                await abandonCopies(of: domain, copying.map { ($0, (record.migratedTo ?? "") + "/\(record.domainName)-\($0).qcow2") })
                record.state = .running
                record.errorMessage = "migration interrupted by a hub restart; start it again"
                try? await catalog.saveRecovery(record)
            }
            if record.state == .running, server?.isRunning == true, await domainState(of: record) != nil {
                await adopt(record.recoveryId)
                done.append("instant recovery \(record.recoveryId) (domain \(record.domainName)) runs on")
                continue
            }
            let reason = switch record.state {
            case .starting: "interrupted by a hub restart while starting"
            case .stopping: nil as String?
            default: server?.isRunning == true ? "its VM ended while the hub was down" : "its disk server ended while the hub was down"
            }
            await tearDown(record)
            record.state = reason == nil ? .stopped : .failed
            record.errorMessage = reason
            record.endedAt = Date()
            try? await catalog.saveRecovery(record)
            done.append("ended instant recovery \(record.recoveryId): \(reason ?? "stopped")")
        }
        let owned = Set(active.map(\.recoveryId))
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folderRoot)) ?? [] where !owned.contains(name) {
            try? FileManager.default.removeItem(atPath: folderRoot + "/" + name)
            done.append("removed \(folderRoot)/\(name), left by an instant recovery that never started")
        }
        let workRoot = QemuWorkFolder.recoveryParent(runDirectory: runDirectory)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: workRoot)) ?? [] where !owned.contains(name) {
            try? FileManager.default.removeItem(atPath: workRoot + "/" + name)
        }
        return done
    }

    // MARK: the job list

    /// Lists the session among the jobs; cancelling it there stops it.
    private func adopt(_ id: String) async {
        await jobs.adopt(id, percent: { 0 }, cancel: { [weak self] in
            guard let self else { return false }
            Task { _ = try? await self.stop(id) }
            return true
        })
    }
}
