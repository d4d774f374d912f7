import Catalog
import Foundation
import Repository
import SendenseCore

/// Deletes a backup's files and rows. A backup other backups build on is
/// refused (409) unless `cascade`, which deletes its descendants first,
/// newest first, so no remaining image ever loses its backing file.
enum BackupDeletion {
    static func delete(_ backupID: String, cascade: Bool, _ services: HubServices) async throws -> [String] {
        let catalog = services.catalog
        guard let record = try await catalog.backup(id: backupID) else {
            throw APIError.notFound("backup not found: backup_id=\(backupID)")
        }
        var order: [BackupJobRecord] = []
        var frontier = [record]
        while let next = frontier.popLast() {
            order.append(next)
            frontier += try await catalog.childBackups(of: next.backupId)
        }
        let children = order.dropFirst()
        if !children.isEmpty && !cascade {
            throw APIError.conflict("\(children.count) later backup(s) depend on \(backupID) (\(children.map(\.backupId).joined(separator: ", "))); delete them first or use ?cascade=true")
        }
        for item in order where await services.backups.isRunning(item.backupId) {
            throw APIError.conflict("backup \(item.backupId) is running; cancel it first")
        }
        if let repository = try await catalog.repository(id: record.repositoryId), let days = repository.immutableDays, days > 0 {
            for item in order {
                let until = item.createdAt.addingTimeInterval(Double(days) * 86400)
                if until > Date() {
                    throw APIError.conflict("backup \(item.backupId) is immutable until \(until.formatted(.iso8601)) (repository \(repository.name) keeps restore points \(days) days)")
                }
            }
        }
        var deleted: [String] = []
        for item in order.reversed() {
            await services.restoreSessions.unmountAll(backupID: item.backupId)
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
