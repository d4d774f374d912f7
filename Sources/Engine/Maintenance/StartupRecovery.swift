import BackupSources
import Catalog
import Foundation
import Logging
import Repository
import SendenseCore

/// What a hub that stopped abruptly (kill -9, power loss) left behind is
/// made consistent before it serves: no row claims a backup is running, no
/// partial backup or half-deleted folder survives, no NBD server it started
/// still runs, no stale socket remains in `runDirectory`.
/// (The full janitor, with orphaned processes and snapshots, runs later.)
/// Blocking file-system work: run it with `BlockingPool` as executor.
public enum StartupRecovery {
    public static func run(catalog: CatalogDatabase, repositories: RepositoryService, runDirectory: String, logger: Logger) async throws {
        let interrupted = try await catalog.failInterruptedBackups(reason: "interrupted by hub restart")
        for id in interrupted { logger.warning("backup \(id) was interrupted by a hub restart; marked failed") }
        if try await catalog.failRunningJobs(reason: "interrupted by hub restart") > 0 {
            logger.warning("restores or maintenance jobs interrupted by a hub restart were marked failed")
        }
        if try await catalog.failRunningExecutions(reason: "interrupted by hub restart", now: Date()) > 0 {
            logger.warning("flow executions interrupted by a hub restart were marked failed")
        }

        // Bitmaps of backups that never committed stay in the VM's images
        // (the checkpoint is kept only on commit), and so do those a newer
        // backup made obsolete when the hub stopped before removing them.
        // Nothing runs yet: only the checkpoint of the newest completed
        // backup per repository (what the next incremental starts from) is kept.
        // Four images at a time: the hub serves only once this is done, and a
        // thousand VMs' images one after the other took a quarter of a minute.
        var paths: [String] = []
        for context in try await catalog.vmContexts() where context.sourceType == .qemuImage {
            paths += try await catalog.disks(ofContext: context.contextId).map(\.path)
        }
        await withTaskGroup(of: Void.self) { group in
            for lane in 0..<4 {
                group.addTask { [paths] in
                    for index in stride(from: lane, to: paths.count, by: 4) {
                        let removed = await QemuImageSource.removeStaleCheckpoints(of: paths[index]) { backupID in
                            await NeededCheckpoints.isNeeded(backupID, catalog: catalog)
                        }
                        for name in removed { logger.notice("removed stale bitmap \(name) from \(paths[index])") }
                    }
                }
            }
        }

        // Live backups the previous process cut short: QEMU's exports, jobs and overlays, half-switched
        // bitmaps (QMP); libvirt's jobs, frozen guests and checkpoints.
        for line in await QMPCleanup.run(catalog: catalog, runDirectory: runDirectory, isRunning: { _ in false })
            + LibvirtCleanup.run(catalog: catalog, runDirectory: runDirectory, images: true, isRunning: { _ in false }) {
            logger.warning("\(line)")
        }

        // File-restore sessions live in memory: none survives a restart.
        if try await catalog.deleteAllMounts() > 0 { logger.notice("closed the restore sessions of the previous hub process") }

        for pid in OrphanProcesses.stopServers(usingSocketsIn: runDirectory) {
            logger.warning("stopped NBD server or SSH tunnel \(pid) left by an earlier hub process")
        }
        try? FileManager.default.removeItem(atPath: runDirectory)
        try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])

        for contents in RepositoryService.contents(of: try await catalog.repositories()) {
            // A merge interrupted before its rename left its output beside the intact image.
            for path in contents.interruptedMerges() {
                try? FileManager.default.removeItem(atPath: path)
                logger.warning("removed interrupted merge \(path)")
            }
            for path in contents.partials.map(\.path) + contents.deletions {
                do {
                    try FileManager.default.removeItem(atPath: path)
                    logger.warning("removed leftover \(path)")
                } catch {
                    logger.error("cannot remove leftover \(path): \(error)")
                }
            }
        }
    }
}
