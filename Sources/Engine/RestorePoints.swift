import Catalog
import Foundation
import Repository
import SendenseCore

/// What can be got back, and where a restore may write: the rules every
/// restore, download, verify and file-restore session goes through.
public struct RestorePoints: Sendable {
    let catalog: CatalogDatabase
    /// The hub's data dir: no restore writes into it.
    let dataDirectory: String

    public init(catalog: CatalogDatabase, dataDirectory: String) {
        self.catalog = catalog
        self.dataDirectory = dataDirectory
    }

    /// A completed backup; `purpose` says what for ("restored", "verified").
    public func completed(_ backupID: String, toBe purpose: String) async throws -> BackupJobRecord {
        guard let record = try await catalog.backup(id: backupID) else { throw BackupError.backupNotFound(backupID) }
        guard record.status == .completed else { throw BackupError.notCompleted(backupID, record.status, purpose: purpose) }
        return record
    }

    /// The rows of a completed backup and of its disk, whose files are present.
    public func disk(_ backupID: String, index: Int) async throws -> (backup: BackupJobRecord, disk: BackupDiskRecord) {
        let record = try await completed(backupID, toBe: "restored")
        guard let disk = try await catalog.backupDisks(of: backupID).first(where: { $0.diskIndex == index }) else {
            throw BackupError.backupDiskNotFound(backupID, index)
        }
        guard FileManager.default.fileExists(atPath: disk.qcow2Path) else { throw BackupError.filesMissing(backupID, disk.qcow2Path) }
        return (record, disk)
    }

    /// The disk of a completed backup to browse, and its other disks whose
    /// files are present (a volume group may span them).
    public func diskWithCompanions(_ backupID: String, index: Int) async throws -> (disk: BackupDiskRecord, companions: [BackupDiskRecord]) {
        let (_, disk) = try await self.disk(backupID, index: index)
        let others = try await catalog.backupDisks(of: backupID).filter {
            $0.diskIndex != index && FileManager.default.fileExists(atPath: $0.qcow2Path)
        }
        return (disk, others.sorted { $0.diskIndex < $1.diskIndex })
    }

    /// A VM's completed backups in a repository, oldest first, each with
    /// whether it can be restored (its folder holds a manifest and every
    /// point it builds on can be restored) and its newest finished boot check.
    public func chain(vmName: String, repositoryID: Int64) async throws -> [ChainLink] {
        guard let view = try await catalog.chainView(vmName: vmName, repositoryID: repositoryID) else {
            throw BackupError.repositoryNotFound(repositoryID)
        }
        let layout = BackupLayout(repositoryRoot: view.repository.path, vmName: vmName)
        var restorable: [String: Bool] = [:]
        return view.backups.map { record in
            let here = FileManager.default.fileExists(atPath: layout.backupDirectory(record.backupId) + "/" + BackupManifest.fileName)
            let ok = here && (record.parentBackupId.map { restorable[$0] ?? false } ?? true)
            restorable[record.backupId] = ok
            return ChainLink(backup: record, restorable: ok, bootCheck: view.bootChecks[record.backupId])
        }
    }

    public struct ChainLink: Sendable {
        public let backup: BackupJobRecord
        public let restorable: Bool
        public let bootCheck: BootCheckRecord?
    }

    /// The file a disk restore may write: a new file (never over an existing
    /// one), in a folder that exists, outside every repository and the data dir.
    public func fileTarget(_ raw: String) async throws -> String {
        let path: String
        do { path = try RepositoryPaths.normalize(raw) } catch { throw RestoreTargetError.invalid("target.path: \(error)") }
        guard !FileManager.default.fileExists(atPath: path) else { throw RestoreTargetError.exists(path) }
        var isDirectory: ObjCBool = false
        let folder = (path as NSString).deletingLastPathComponent
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw RestoreTargetError.noFolder(folder)
        }
        let protected = try await catalog.repositories().map(\.path) + [dataDirectory]
        if let inside = protected.first(where: { path.hasPrefix($0 + "/") || path == $0 }) {
            throw RestoreTargetError.protected(path, inside: inside)
        }
        return path
    }

    /// Re-reads a completed backup against its manifest, as a verify job.
    public func verify(_ backupID: String, jobs: Jobs) async throws -> BackupVerifier.Report {
        let record = try await completed(backupID, toBe: "verified")
        guard let repository = try await catalog.repository(id: record.repositoryId) else {
            throw BackupError.repositoryNotFound(record.repositoryId)
        }
        let directory = BackupLayout(repositoryRoot: repository.path, vmName: record.vmName).backupDirectory(backupID)
        // Re-reading a disk is long, blocking file I/O: on the blocking pool.
        return try await jobs.run(.verify, vmName: record.vmName, on: BlockingPool.jobs) { _ in
            let report: BackupVerifier.Report
            do {
                report = try BackupVerifier.verify(backupDirectory: directory)
            } catch {
                throw VerifyFailed(backupID: backupID, underlying: error)
            }
            let summary = "\(backupID): \(report.ok ? "ok" : report.firstMismatch ?? "mismatch"), \(report.runsChecked) runs"
            return (report, report.ok ? .completed(summary) : .failed(summary))
        }
    }
}

/// Why a disk restore may not write where it was asked to.
public enum RestoreTargetError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(String)
    /// An NBD target URI that does not parse as one (the document can only say how it starts).
    case unusableURI(String)
    case exists(String)
    case noFolder(String)
    /// Inside a repository or the hub's data dir.
    case protected(String, inside: String)

    public var description: String {
        switch self {
        case .invalid(let message), .unusableURI(let message): message
        case .exists(let path): "\(path) already exists; restores never overwrite"
        case .noFolder(let folder): "the folder \(folder) does not exist"
        case .protected(let path, let inside): "\(path) lies inside \(inside), which belongs to the hub"
        }
    }
}

/// A verify that could not read its backup: the job's detail names the backup.
struct VerifyFailed: Error, CustomStringConvertible {
    var backupID: String
    var underlying: any Error
    var description: String { "\(backupID): \(underlying)" }
}
