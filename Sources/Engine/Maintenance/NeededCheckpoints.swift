import Catalog

/// Which `sendense-<backup_id>` checkpoints (bitmaps, libvirt checkpoints)
/// a VM still needs: only that of the newest completed backup per
/// repository, which the next incremental starts from. Every other one
/// costs the guest on each write and is never read again.
enum NeededCheckpoints {
    static func isNeeded(_ backupID: String, catalog: CatalogDatabase) async -> Bool {
        do {
            guard let backup = try await catalog.backup(id: backupID), backup.status == .completed else { return false }
            return try await catalog.lastCompletedBackup(vmName: backup.vmName, repositoryID: backup.repositoryId)?.backupId == backupID
        } catch {
            // When the catalog cannot say, keep it.
            return true
        }
    }
}
