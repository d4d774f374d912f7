import BackupSources
import Catalog
import Foundation
import SendenseCore

/// What a live backup of a QEMU reached through QMP leaves when its hub dies
/// in the middle (a session folder no running backup owns): QEMU's exports,
/// NBD server, backup jobs and fleecing overlays, and bitmaps left half
/// switched (the parent's disabled, the new one recording). Run at start-up
/// and by the janitor, before `LibvirtCleanup`, which removes every other
/// leftover folder.
enum QMPCleanup {
    static func run(catalog: CatalogDatabase, runDirectory: String, isRunning: @Sendable (String) async -> Bool) async -> [String] {
        let folder = QemuWorkFolder.parent(runDirectory: runDirectory)
        let sessions = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        guard !sessions.isEmpty else { return [] }
        var done: [String] = []
        for backupID in sessions.sorted() where await !isRunning(backupID) {
            guard let backup = try? await catalog.backup(id: backupID),
                  let context = try? await catalog.vmContext(named: backup.vmName), context.sourceType == .qmp,
                  let disks = try? await catalog.disks(ofContext: context.contextId),
                  let source = try? QMPInventory.source(for: context, disks: disks, runDirectory: runDirectory) else { continue }
            let committed = await NeededCheckpoints.isNeeded(backupID, catalog: catalog)
            do {
                done += try await source.recover(backupID: backupID, committed: committed)
            } catch {
                // QEMU is gone (or not answering): its state went with it; the folder is all that is left.
                done.append("could not reach the QEMU of backup \(backupID): \(error)")
            }
            let session = folder + "/" + backupID
            try? FileManager.default.removeItem(atPath: session)
            done.append("removed \(session)")
        }
        return done
    }
}
