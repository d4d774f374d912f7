import BackupSources
import DiskImage
import Foundation
import Repository
import SendenseCore

/// One VM-level backup: every disk at one point in time, copied
/// concurrently into `<backup_id>.partial/`, committed by rename. The
/// source's new checkpoint is kept only once the backup is committed; any
/// failure or cancellation removes the partial folder.
public struct BackupJob: Sendable {
    public struct Parent: Sendable {
        public var backupID: String
        /// Committed checkpoint per disk index.
        public var checkpoints: [Int: String]

        public init(backupID: String, checkpoints: [Int: String]) {
            self.backupID = backupID
            self.checkpoints = checkpoints
        }
    }

    public var backupID: String
    public var vm: BackupManifest.VM
    public var repositoryRoot: String
    /// nil for a full backup.
    public var parent: Parent?
    /// The checkpoints this backup makes obsolete once committed, per disk
    /// index: those of the newest backup of this VM in this repository (the
    /// parent's, unless a full starts the chain over).
    public var replacesCheckpoints: [Int: String]
    public var clusterSize = 65536
    public var progress = BackupProgress()
    /// Why this backup is what it is (an incremental that became full).
    public var note: String?

    public init(backupID: String, vm: BackupManifest.VM, repositoryRoot: String, parent: Parent?) {
        self.backupID = backupID
        self.vm = vm
        self.repositoryRoot = repositoryRoot
        self.parent = parent
        self.replacesCheckpoints = parent?.checkpoints ?? [:]
    }

    public var layout: BackupLayout { BackupLayout(repositoryRoot: repositoryRoot, vmName: vm.name) }

    public func run(source: any BackupSource) async throws -> BackupManifest {
        let createdAt = Date()
        let layout = self.layout
        let partial = try layout.createPartial(backupID)
        progress.setPhase("snapshot")
        do {
            let manifest = try await source.withSession(backupID: backupID, parentCheckpoints: parent?.checkpoints, replacing: replacesCheckpoints) { session in
                progress.setPhase("transferring")
                let disks = try await withThrowingTaskGroup(of: BackupManifest.Disk.self) { group in
                    for export in session.exports {
                        group.addTask { try await copy(export, into: partial) }
                    }
                    var disks: [BackupManifest.Disk] = []
                    for try await disk in group { disks.append(disk) }
                    return disks.sorted { $0.index < $1.index }
                }
                try Task.checkCancellation()
                progress.setPhase("committing")
                let type: BackupType = disks.contains { $0.copy == .incremental } ? .incremental : .full
                var manifest = BackupManifest(
                    backupId: backupID, backupType: type, parentId: type == .incremental ? parent?.backupID : nil,
                    vm: vm, createdAt: createdAt, completedAt: Date(), disks: disks)
                manifest.consistency = session.consistency
                manifest.consistencyNote = session.consistencyNote
                manifest.vmConfiguration = session.configuration
                _ = try layout.commit(manifest)
                return (manifest, true)
            }
            progress.setPhase(BackupStatus.completed.rawValue)
            return manifest
        } catch {
            layout.discardPartial(backupID)
            progress.setPhase((error is CancellationError ? BackupStatus.cancelled : .failed).rawValue)
            throw error
        }
    }

    private func copy(_ export: DiskExport, into partial: String) async throws -> BackupManifest.Disk {
        let file = BackupLayout.diskFileName(index: export.disk.index)
        var backing: String?
        var note = export.plan.reason
        var parentImage: (any DiskImageReader)?
        if export.plan.isIncremental, let parent {
            backing = BackupLayout.backingFileName(parentID: parent.backupID, diskIndex: export.disk.index)
            if case .changedSinceParent = export.plan {
                let path = layout.backupDirectory(parent.backupID) + "/" + file
                do {
                    parentImage = try await BlockingPool.shared.run { try BackupImages.open(path) }
                } catch {
                    // Nothing to compare with: this disk starts over.
                    backing = nil
                    note = (note.map { $0 + "; " } ?? "") + "the parent point has no readable image of this disk (\(error)): full backup"
                }
            }
        }
        let copier = DiskCopier(export: export, imagePath: partial + "/" + file, backingFile: backing, parentImage: parentImage,
                                clusterSize: clusterSize, progress: progress)
        let result = try await copier.copy()
        if parentImage != nil {
            note = (note.map { $0 + ": " } ?? "") + "read the whole disk and wrote only what differs from \(parent?.backupID ?? "the parent") ("
                + "\(ByteCountFormatter.string(fromByteCount: Int64(result.bytesWritten), countStyle: .binary)))"
        }
        return BackupManifest.Disk(
            index: export.disk.index, label: export.disk.label, capacityBytes: export.disk.capacityBytes, file: file,
            backingFile: backing, copy: backing == nil ? .full : .incremental,
            checkpoint: export.newCheckpoint.isEmpty ? nil : export.newCheckpoint,
            bytesWritten: result.bytesWritten, note: note, runs: result.runs)
    }
}
