import Foundation
import SendenseCore

/// Why a backup cannot start, or a chain cannot be worked on, in the
/// domain's words; the hub decides what each means in HTTP
/// (`Hub/HTTP/ErrorMapping.swift`).
public enum BackupError: Error, Equatable, Sendable, CustomStringConvertible {
    case vmNotFound(String)
    case backupNotFound(String)
    /// Only completed backups can be restored or verified (`purpose`).
    case notCompleted(String, BackupStatus, purpose: String)
    case backupDiskNotFound(String, Int)
    /// The catalog knows the backup, its repository has lost its files.
    case filesMissing(String, String)
    /// Later backups build on it (their ids).
    case hasDependents(String, [String])
    case running(String)
    /// A restore job reads it (or a point built on it).
    case beingRestored(String, jobID: String)
    /// The repository keeps its restore points `days` days.
    case immutable(String, until: Date, repository: String, days: Int)
    case repositoryNotFound(Int64)
    case repositoryDisabled(String)
    /// `disk_indexes` named no disk at all.
    case noDiskChosen
    case diskNotFound(vmName: String, index: Int)
    /// Another backup of the VM runs (the catalog's words).
    case alreadyRunning(String)
    /// The VM's disks cannot be reached as its context describes them
    /// (a deleted vCenter credential, a VM to discover again).
    case sourceUnavailable(String)

    public var description: String {
        switch self {
        case .vmNotFound(let name): "VM not found: vm_name=\(name)"
        case .backupNotFound(let id): "backup not found: backup_id=\(id)"
        case .notCompleted(let id, let status, let purpose): "backup \(id) is \(status.rawValue); only completed backups can be \(purpose)"
        case .backupDiskNotFound(let id, let index): "disk not found: backup_id=\(id), disk_index=\(index)"
        case .filesMissing(let id, let path): "the files of backup \(id) are missing from its repository (\(path))"
        case .hasDependents(let id, let children):
            "\(children.count) later backup(s) depend on \(id) (\(children.joined(separator: ", "))); delete them first or use ?cascade=true"
        case .running(let id): "backup \(id) is running; cancel it first"
        case .beingRestored(let id, let jobID): "backup \(id) is being read by job \(jobID) (a restore or a boot check); wait for it to end or cancel it"
        case .immutable(let id, let until, let repository, let days):
            "backup \(id) is immutable until \(until.formatted(.iso8601)) (repository \(repository) keeps restore points \(days) days)"
        case .repositoryNotFound(let id): "repository not found: id=\(id)"
        case .repositoryDisabled(let name): "repository \(name) is disabled"
        case .noDiskChosen: "disk_indexes must name at least one disk"
        case .diskNotFound(let vmName, let index): "disk not found: vm_name=\(vmName), disk_index=\(index)"
        case .alreadyRunning(let message), .sourceUnavailable(let message): message
        }
    }
}
