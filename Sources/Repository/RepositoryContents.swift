import Foundation

/// What a repository folder holds, read as its format defines it: committed
/// backups under `vms/<vm-key>/<backup_id>/`, and what work a crash or a
/// kill cut short left beside them. The suffixes that mark those leftovers
/// are spelled here and in `BackupLayout` only; callers ask by meaning.
public struct RepositoryContents: Sendable {
    /// A backup folder, committed (it may still lack a readable manifest).
    public struct Backup: Sendable {
        public var vmKey: String
        public var backupID: String
        public var folder: String
    }

    /// A folder of a backup being written (or whose writer died).
    public struct Partial: Sendable {
        public var backupID: String
        public var path: String
    }

    public var backups: [Backup] = []
    public var partials: [Partial] = []
    /// Backup folders renamed aside to be removed, whose removal did not finish.
    public var deletions: [String] = []

    /// Reads the folders of `root` (a repository's root): blocking file-system
    /// calls, so callers run it on `BlockingPool`. Unreadable folders count as empty.
    public static func scan(root: String) -> RepositoryContents {
        var contents = RepositoryContents()
        let vms = root + "/" + BackupLayout.vmsFolder
        for vm in ((try? FileManager.default.contentsOfDirectory(atPath: vms)) ?? []).sorted() {
            let folder = vms + "/" + vm
            for entry in ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted() {
                let path = folder + "/" + entry
                if let backupID = entry.removingSuffix(BackupLayout.partialSuffix) {
                    contents.partials.append(Partial(backupID: backupID, path: path))
                } else if entry.hasSuffix(BackupLayout.deletingSuffix) {
                    contents.deletions.append(path)
                } else {
                    contents.backups.append(Backup(vmKey: vm, backupID: entry, folder: path))
                }
            }
        }
        return contents
    }

    /// Images a merge was writing when it was interrupted, before the rename
    /// that would have replaced the intact image beside them.
    public func interruptedMerges() -> [String] {
        backups.flatMap { backup in
            ((try? FileManager.default.contentsOfDirectory(atPath: backup.folder)) ?? [])
                .filter { $0.hasSuffix(BackupLayout.mergingSuffix) }
                .map { backup.folder + "/" + $0 }
        }
    }
}

extension String {
    func removingSuffix(_ suffix: String) -> String? {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : nil
    }
}
