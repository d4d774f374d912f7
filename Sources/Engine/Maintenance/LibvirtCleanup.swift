import BackupSources
import Catalog
import Foundation
import Libvirt
import SendenseCore

/// What a live backup of a libvirt domain leaves when its hub dies in the
/// middle: libvirt's backup job (QEMU's NBD server and scratch files), a
/// guest whose filesystems are still frozen, a checkpoint no committed backup
/// vouches for, the folder QEMU worked in. Run at start-up and by the janitor;
/// it touches only what no running backup owns, and only jobs that are ours
/// (their exports are named after a backup whose folder is this hub's).
enum LibvirtCleanup {
    /// Answers what it did, one line each. `images`: also the bitmaps a
    /// stopped domain's image files keep (qemu-img on every disk: at start-up, not every minute).
    static func run(catalog: CatalogDatabase, runDirectory: String, images: Bool,
                    isRunning: @Sendable (String) async -> Bool) async -> [String] {
        let contexts = ((try? await catalog.vmContexts()) ?? []).filter { $0.sourceType == .libvirt }
        let folder = QemuWorkFolder.parent(runDirectory: runDirectory)
        let sessions = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        guard !contexts.isEmpty || !sessions.isEmpty else { return [] }
        var done: [String] = []
        // One connection per libvirt URI for the whole run (a thousand domains, not a thousand connections a minute).
        var connections: [String: LibvirtConnection] = [:]
        func domain(of context: VMContextRecord) async -> LibvirtDomain? {
            guard let reference = context.sourceJson.flatMap(LibvirtInventory.decode) else { return nil }
            if connections[reference.uri] == nil { connections[reference.uri] = try? await LibvirtConnection.open(reference.uri) }
            return try? await connections[reference.uri]?.domain(uuid: reference.uuid)
        }

        // Sessions whose backup no longer runs: end their job, thaw their guest, remove their folder.
        for backupID in sessions.sorted() where await !isRunning(backupID) {
            let session = folder + "/" + backupID
            if let vmName = try? await catalog.backup(id: backupID)?.vmName,
               let context = contexts.first(where: { $0.vmName == vmName }),
               let domain = await domain(of: context) {
                // A freeze is undone whatever else happened: a frozen guest cannot write.
                if let thawed = try? await domain.thawFilesystems(), thawed > 0 { done.append("thawed the filesystems of domain \(domain.name) (backup \(backupID))") }
                if let job = try? await domain.backupXML(),
                   BackupDocuments.exportNames(inBackupXML: job).contains(where: { $0.hasPrefix(backupID + "/") }) {
                    try? await domain.abortJob()
                    done.append("ended the backup job \(backupID) left on domain \(domain.name)")
                }
            }
            try? FileManager.default.removeItem(atPath: session)
            done.append("removed \(session)")
        }

        // Checkpoints of backups that never committed, or that a newer backup made obsolete.
        for context in contexts {
            guard let domain = await domain(of: context), let names = try? await domain.checkpointNames() else { continue }
            for name in names.sorted() where name.hasPrefix(QemuImageSource.checkpointPrefix) {
                let backupID = String(name.dropFirst(QemuImageSource.checkpointPrefix.count))
                guard await !isRunning(backupID), await !NeededCheckpoints.isNeeded(backupID, catalog: catalog) else { continue }
                if (try? await domain.deleteCheckpoint(name)) != nil { done.append("deleted stale checkpoint \(name) of domain \(domain.name)") }
            }
            // A stopped domain's own bitmaps (backups through its image files) are the image source's to clean.
            guard images, (try? await domain.isActive()) == false,
                  let xml = try? await domain.xml(inactive: true), let description = try? DomainDescription(xml: xml) else { continue }
            for path in description.disks.compactMap(\.path) {
                let removed = await QemuImageSource.removeStaleCheckpoints(of: path) { backupID in
                    if await isRunning(backupID) { return true }
                    return await NeededCheckpoints.isNeeded(backupID, catalog: catalog)
                }
                done += removed.map { "removed stale bitmap \($0) from \(path)" }
            }
        }
        return done
    }
}
