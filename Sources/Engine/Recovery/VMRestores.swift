import Catalog
import Foundation
import Libvirt
import Logging
import Repository
import SendenseCore

/// VM restore: a new libvirt domain made from a restore point's stored
/// configuration (new name and UUID, new MAC addresses unless kept), its
/// disks restored to new qcow2 files in a folder or a storage pool of files,
/// started if asked. A restore job like a disk's: listed, cancellable, its
/// progress the bytes written, its point held against delete and retention
/// while it reads. One that fails, is cancelled or is cut short by a hub
/// restart leaves neither files nor a domain behind (`resume`).
public actor VMRestores {
    public struct Request: Sendable {
        public enum Destination: Sendable, Equatable {
            /// An existing folder on this host.
            case folder(String)
            /// A libvirt storage pool whose volumes are files (dir, fs, netfs).
            case storagePool(String)
        }

        public var backupID: String
        /// The new domain's name; nil: `<vm>-restored-<short id>`.
        public var name: String?
        public var libvirtURI: String
        public var destination: Destination
        /// absent (as stored), `none`, or a libvirt network's name.
        public var network: String?
        public var keepMACs: Bool
        public var start: Bool

        public init(backupID: String, name: String?, libvirtURI: String = "qemu:///system", destination: Destination, network: String?,
                    keepMACs: Bool, start: Bool) {
            self.backupID = backupID
            self.name = name
            self.libvirtURI = libvirtURI
            self.destination = destination
            self.network = network
            self.keepMACs = keepMACs
            self.start = start
        }
    }

    private let catalog: CatalogDatabase
    private let jobs: Jobs
    private let dataDirectory: String
    private let logger: Logger
    /// Domain names of restores being checked: two requests cannot both take one.
    private var claimedNames: Set<String> = []

    public init(catalog: CatalogDatabase, jobs: Jobs, dataDirectory: String, logger: Logger) {
        self.catalog = catalog
        self.jobs = jobs
        self.dataDirectory = dataDirectory
        self.logger = logger
    }

    /// Checks the request, then starts the restore job and answers its row
    /// and the job. What is wrong with the request is refused before any
    /// file is written.
    public func start(_ request: Request) async throws -> (VMRestoreRecord, Job) {
        let id = Jobs.newID(.restore)
        let point = try await RecoverablePoint.load(request.backupID, toBe: "restored as a VM", catalog: catalog, dataDirectory: dataDirectory)
        let name = request.name ?? "\(point.backup.vmName)-restored-\(id.dropFirst("restore-".count).prefix(8))"
        if let problem = RecoverablePoint.domainNameProblem(name) { throw RecoveryError.invalid(problem) }
        let network = try RecoveredDomain.Network(choice: request.network)
        guard LibvirtURI.local.contains(request.libvirtURI) else {
            throw RecoveryError.notRecoverable("a VM restore writes its disks on the hub's own host and defines the VM there ("
                + LibvirtURI.local.joined(separator: " or ") + ")")
        }
        guard !claimedNames.contains(name) else { throw RecoveryError.nameTaken(name) }
        claimedNames.insert(name)
        defer { claimedNames.remove(name) }
        let connection = try await RecoverablePoint.connection(request.libvirtURI, forNewDomain: name, catalog: catalog)

        let folder: String
        switch request.destination {
        case .folder(let path): folder = path
        case .storagePool(let pool):
            do {
                folder = try await connection.storagePoolFolder(named: pool)
            } catch {
                throw RecoveryError.notRecoverable("\(error)")
            }
        }
        let targets = RestorePoints(catalog: catalog, dataDirectory: dataDirectory)
        var disks: [VMRestoreRecord.Disk] = []
        for disk in point.disks {
            // The label comes from the stored XML: it names a file, so nothing in it may climb out of the folder.
            guard disk.label.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
                throw RecoveryError.notRecoverable("disk \(disk.index) of backup \(request.backupID) has the target name \"\(disk.label)\", "
                    + "which cannot name a file")
            }
            let path = try await targets.fileTarget(folder + "/\(name)-\(disk.label).qcow2")
            disks.append(.init(target: disk.label, diskIndex: disk.index, path: path))
        }
        let domain: RecoveredDomain
        do {
            domain = try RecoveredDomain(storedXML: point.configuration, name: name,
                                         disks: disks.map { .init(target: $0.target, source: .qcow2File($0.path)) },
                                         consoleLog: nil, network: network, keepMACs: request.keepMACs,
                                         description: "Restored by Sendense (\(id)) from backup \(point.backup.backupId) of \(point.backup.vmName)")
        } catch {
            throw RecoveryError.notRecoverable("\(error)")
        }
        try RecoverablePoint.checkHostRuns(domain)

        var pool: String? = nil
        if case .storagePool(let name) = request.destination { pool = name }
        let record = VMRestoreRecord(jobId: id, backupId: point.backup.backupId, vmName: point.backup.vmName, domainName: name,
                                     libvirtUri: request.libvirtURI, storagePool: pool, network: request.network,
                                     keepMacs: request.keepMACs, start: request.start, disks: disks)
        // Written before the job: a restart finds what the job may have left.
        try await catalog.saveVMRestore(record)
        let images = Dictionary(uniqueKeysWithValues: point.disks.map { ($0.index, $0.image) })
        let job = await jobs.start(.restore, id: id, vmName: point.backup.vmName, detail: "backup \(point.backup.backupId) as VM \(name)",
                                   restoring: (point.backup.backupId, nil), on: BlockingPool.jobs) { progress in
            try await self.run(record, uri: request.libvirtURI, xml: domain.xml, images: images, progress: progress)
        }
        let leftOut = domain.leftOut.isEmpty ? "" : " (disks not in the backup left out: \(domain.leftOut.joined(separator: ", ")))"
        logger.notice("VM restore \(id): backup \(point.backup.backupId) as domain \(name) in \(folder)\(leftOut)")
        return (record, job)
    }

    /// The job's work: every disk to its file, then the domain defined (and
    /// started). Any failure or a cancel removes all it made.
    private func run(_ record: VMRestoreRecord, uri: String, xml: String, images: [Int: String], progress: JobProgress) async throws -> JobEnd {
        var record = record
        do {
            var total: UInt64 = 0
            for disk in record.disks { total += try DiskRestore.virtualSize(of: images[disk.diskIndex] ?? "") }
            progress.setTotal(total)
            for disk in record.disks {
                try await DiskRestore.restore(image: images[disk.diskIndex] ?? "", to: .file(path: disk.path, format: "qcow2"),
                                              progress: progress, setsTotal: false)
            }
            try Task.checkCancellation()
            let connection = try await LibvirtConnection.open(uri)
            let domain = try await connection.define(xml: xml)
            record.domainUuid = domain.uuid
            try await catalog.saveVMRestore(record)
            if let pool = record.storagePool {
                // The files are in the pool's folder; until a refresh, libvirt does not list them as its volumes.
                do { try await connection.refreshStoragePool(named: pool) } catch { logger.warning("VM restore \(record.jobId): \(error)") }
            }
            try Task.checkCancellation()
            if record.start { try await domain.start() }
            record.settled = true
            try await catalog.saveVMRestore(record)
        } catch {
            // Undone even when the job was cancelled: from a task of its own (GRDB refuses work in a cancelled task).
            await Task { [record] in await self.undo(record) }.value
            throw error
        }
        let started = record.start ? " and started" : ""
        logger.notice("VM restore \(record.jobId): domain \(record.domainName) defined\(started)")
        return .completed("domain \(record.domainName) defined\(started) from backup \(record.backupId), \(record.disks.count) disk(s)")
    }

    /// Removes what a restore that did not complete made: its domain (the
    /// one it defined, by UUID, or by name when its description names this
    /// restore), its files, their partial copies. Then its row is settled.
    private func undo(_ record: VMRestoreRecord) async {
        var record = record
        guard let uri = record.libvirtUri else { return }
        let connection = try? await LibvirtConnection.open(uri)
        if let connection {
            var domain: LibvirtDomain? = nil
            if let uuid = record.domainUuid {
                domain = try? await connection.domain(uuid: uuid)
            } else if let named = try? await connection.domain(named: record.domainName),
                      (try? await named.xml(inactive: true))?.contains("(\(record.jobId))") == true {
                // Defined by this restore just before a kill: its UUID was not recorded yet.
                domain = named
            }
            if let domain {
                if (try? await domain.isActive()) == true { try? await domain.destroy() }
                do { try await domain.undefine() } catch { logger.error("VM restore \(record.jobId): could not undefine \(record.domainName): \(error)") }
            }
        }
        await BlockingPool.shared.run { [disks = record.disks] in
            for disk in disks {
                unlink(disk.path)
                unlink(DurableFile.partialPath(of: disk.path))
            }
        }
        if let pool = record.storagePool, let connection { try? await connection.refreshStoragePool(named: pool) }
        record.settled = true
        try? await catalog.saveVMRestore(record)
    }

    /// After a restart: restores the previous process cut short are undone
    /// (their jobs were failed by the start-up sweep). Answers what it did.
    public func resume() async -> [String] {
        var done: [String] = []
        for record in (try? await catalog.unsettledVMRestores()) ?? [] where record.libvirtUri != nil {
            await undo(record)
            done.append("VM restore \(record.jobId) was interrupted by a hub restart: its files and domain \(record.domainName) were removed")
        }
        return done
    }
}

extension RecoveredDomain.Network {
    /// `network` as the API says it: absent (as stored), `none`, or a libvirt network's name.
    init(choice: String?) throws {
        switch choice {
        case nil: self = .asStored
        case "none": self = .none
        case let name?:
            if let problem = RecoverablePoint.domainNameProblem(name) {
                throw RecoveryError.invalid(problem.replacingOccurrences(of: "name", with: "network"))
            }
            self = .libvirt(name)
        }
    }
}
