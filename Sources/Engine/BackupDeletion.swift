import Catalog
import Foundation
import Repository
import SendenseCore

/// Deletes a backup's files and rows. A backup other backups build on is
/// refused unless `cascade`, which deletes its descendants first, newest
/// first, so no remaining image ever loses its backing file.
public enum BackupDeletion {
    public static func delete(_ backupID: String, cascade: Bool, catalog: CatalogDatabase, backups: BackupService,
                              sessions: RestoreSessions, recoveries: InstantRecoveries, jobs: Jobs) async throws -> [String] {
        guard let record = try await catalog.backup(id: backupID) else {
            throw BackupError.backupNotFound(backupID)
        }
        var order: [BackupJobRecord] = []
        var frontier = [record]
        while let next = frontier.popLast() {
            order.append(next)
            frontier += try await catalog.childBackups(of: next.backupId)
        }
        let children = order.dropFirst()
        if !children.isEmpty && !cascade {
            throw BackupError.hasDependents(backupID, children.map(\.backupId))
        }
        for item in order where await backups.isRunning(item.backupId) {
            throw BackupError.running(item.backupId)
        }
        // A recovered VM, or a restore, reads its point and every point that point builds on.
        try await recoveries.checkNotInUse(order.map(\.backupId))
        let ids = Set(order.map(\.backupId))
        if let restore = await jobs.restoresRunning().first(where: { ids.contains($0.backupID) }) {
            throw BackupError.beingRestored(restore.backupID, jobID: restore.jobID)
        }
        if let repository = try await catalog.repository(id: record.repositoryId), let days = repository.immutableDays, days > 0 {
            for item in order {
                let until = item.createdAt.addingTimeInterval(Double(days) * 86400)
                if until > Date() {
                    throw BackupError.immutable(item.backupId, until: until, repository: repository.name, days: days)
                }
            }
        }
        var deleted: [String] = []
        for item in order.reversed() {
            await sessions.unmountAll(backupID: item.backupId)
            if let repository = try await catalog.repository(id: item.repositoryId) {
                let directory = BackupLayout(repositoryRoot: repository.path, vmName: item.vmName).backupDirectory(item.backupId)
                try await BlockingPool.shared.run { try BackupLayout.removeBackupDirectory(directory) }
            }
            try await catalog.deleteBackupRow(item.backupId)
            deleted.append(item.backupId)
        }
        return deleted
    }
}
