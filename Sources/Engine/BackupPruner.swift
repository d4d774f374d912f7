import Catalog
import DiskImage
import Foundation
import Logging
import Repository
import SendenseCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What a prune did (or, dry, would do).
public struct PruneReport: Sendable, Equatable {
    public var vmName: String
    public var dryRun: Bool
    public var kept: [String]
    public var removed: [String]
    /// Kept point → the removed points folded into it, nearest first.
    public var merged: [String: [String]]
    /// Points the policy would remove that the repository keeps until then.
    public var immutableUntil: [String: Date]
    /// Why nothing was done, when nothing was.
    public var skipped: String?
}

/// Applies a retention policy to one VM's restore points in one repository.
/// Removing a point others build on merges it into the nearest kept point
/// above it (forever-incremental: the full goes, the next incremental
/// becomes the full). Crash-safe in this order: the merged image is written
/// beside the kept one and flushed, renamed over it, the manifest rewritten,
/// the catalog updated, and only then are the removed points deleted,
/// newest first. After a crash at any step every kept point restores exactly;
/// running the prune again finishes the work. One prune at a time.
public actor BackupPruner {
    let catalog: CatalogDatabase
    let logger: Logger
    let now: @Sendable () -> Date
    /// Called before a point's files go (closes its file-restore sessions).
    let willDelete: @Sendable (String) async -> Void
    let isBackingUp: @Sendable (String) async -> Bool
    /// What reads one of a VM's points now, if anything ("instant recovery
    /// recovery-1a2b", "restore restore-…"): its chain is then neither merged nor deleted.
    let readerOf: @Sendable (String) async -> String?

    public init(catalog: CatalogDatabase, logger: Logger, now: @escaping @Sendable () -> Date = { Date() },
                isBackingUp: @escaping @Sendable (String) async -> Bool, readerOf: @escaping @Sendable (String) async -> String? = { _ in nil },
                willDelete: @escaping @Sendable (String) async -> Void = { _ in }) {
        self.catalog = catalog
        self.logger = logger
        self.now = now
        self.isBackingUp = isBackingUp
        self.readerOf = readerOf
        self.willDelete = willDelete
    }

    /// `progress` hears the percentage done (merges are nearly all of a
    /// prune's time), rising, at most once per whole percent, ending at 100.
    public func prune(vmName: String, repositoryID: Int64, policy: RetentionPolicy, timeZone: TimeZone = .gmt,
                      dryRun: Bool = false, progress: @escaping @Sendable (Double) -> Void = { _ in }) async throws -> PruneReport {
        guard let repository = try await catalog.repository(id: repositoryID) else {
            throw BackupError.repositoryNotFound(repositoryID)
        }
        let chain = try await catalog.chain(vmName: vmName, repositoryID: repositoryID)
        var report = PruneReport(vmName: vmName, dryRun: dryRun, kept: chain.map(\.backupId), removed: [], merged: [:], immutableUntil: [:])
        guard !policy.keepsEverything else { return report }
        if await isBackingUp(vmName) {
            report.skipped = "a backup of \(vmName) is running: pruned after it"
            return report
        }
        if let reader = await readerOf(vmName) {
            report.skipped = "\(reader) reads a point of \(vmName): pruned after it ends"
            return report
        }
        let byID = Dictionary(uniqueKeysWithValues: chain.map { ($0.backupId, $0) })
        let decision = RetentionPlanner.plan(chain.map { .init(id: $0.backupId, time: $0.createdAt) }, policy: policy, timeZone: timeZone)
        var remove = Set(decision.remove)

        // Immutable points are neither deleted nor rewritten by a merge: a
        // removal that would rewrite one waits (and is kept for now). Newest
        // first, so each point's merge target is already settled.
        if let days = repository.immutableDays, days > 0 {
            func until(_ id: String) -> Date? {
                guard let record = byID[id] else { return nil }
                let end = record.createdAt.addingTimeInterval(Double(days) * 86400)
                return end > now() ? end : nil
            }
            for record in chain.reversed() where remove.contains(record.backupId) {
                let id = record.backupId
                let blocked = until(id) ?? Self.keptDescendant(of: id, in: chain, removing: remove).flatMap(until)
                if let blocked {
                    remove.remove(id)
                    report.immutableUntil[id] = blocked
                }
            }
        }
        report.removed = chain.map(\.backupId).filter { remove.contains($0) }
        report.kept = chain.map(\.backupId).filter { !remove.contains($0) }
        for kept in chain where !remove.contains(kept.backupId) {
            let folded = Self.removedAncestors(of: kept, byID: byID, removing: remove)
            if !folded.isEmpty { report.merged[kept.backupId] = folded.map(\.backupId) }
        }
        guard !dryRun, !remove.isEmpty else { return report }

        let merging = chain.filter { report.merged[$0.backupId] != nil }
        let meter = PruneProgress(merges: merging.count, report: progress)
        for (step, kept) in merging.enumerated() {
            let folded = Self.removedAncestors(of: kept, byID: byID, removing: remove)
            let newParent = folded.last?.parentBackupId
            try await merge(kept, folding: Set(folded.map(\.backupId)), newParent: newParent, repository: repository) { fraction in
                meter.merge(step, done: fraction)
            }
        }
        // Newest first: a removed point never outlives one it backs.
        for id in report.removed.reversed() {
            guard let record = byID[id] else { continue }
            await willDelete(id)
            let layout = BackupLayout(repositoryRoot: repository.path, vmName: record.vmName)
            try BackupLayout.removeBackupDirectory(layout.backupDirectory(id))
            try await catalog.deleteBackupRow(id)
            logger.info("retention removed \(id) of \(vmName)")
        }
        meter.finished()
        return report
    }

    /// The consecutive removed points under `kept`, nearest first.
    static func removedAncestors(of kept: BackupJobRecord, byID: [String: BackupJobRecord], removing remove: Set<String>) -> [BackupJobRecord] {
        var result: [BackupJobRecord] = []
        var parent = kept.parentBackupId
        while let id = parent, remove.contains(id), let record = byID[id] {
            result.append(record)
            parent = record.parentBackupId
        }
        return result
    }

    /// The kept point a removed point would be merged into, if any.
    static func keptDescendant(of id: String, in chain: [BackupJobRecord], removing remove: Set<String>) -> String? {
        var current = id
        while let child = chain.first(where: { $0.parentBackupId == current }) {
            if !remove.contains(child.backupId) { return child.backupId }
            current = child.backupId
        }
        return nil
    }

    /// `progress` hears the fraction of this point's disks merged.
    private func merge(_ kept: BackupJobRecord, folding folded: Set<String>, newParent: String?, repository: RepositoryRecord,
                       progress: @escaping @Sendable (Double) -> Void) async throws {
        let layout = BackupLayout(repositoryRoot: repository.path, vmName: kept.vmName)
        let directory = layout.backupDirectory(kept.backupId)
        var manifest = try BackupManifest.read(from: directory)
        for (position, disk) in manifest.disks.enumerated() {
            let path = directory + "/" + disk.file
            // The image headers are the truth: follow the backing files through the removed points.
            var layers = [path]
            var backing: String?
            var current = path
            while let name = try BackupImages.qcow2(current).backingFileName {
                let resolved = QCOW2Image.resolve(name, relativeTo: current)
                let owner = URL(fileURLWithPath: resolved).deletingLastPathComponent().lastPathComponent
                guard folded.contains(owner) else {
                    backing = "../\(owner)/\(URL(fileURLWithPath: resolved).lastPathComponent)"
                    break
                }
                layers.append(resolved)
                current = resolved
            }
            guard layers.count > 1 else { continue }
            let output = BackupLayout.mergeOutput(replacing: path)
            let disks = Double(manifest.disks.count)
            // Merging reads and writes whole images: on the blocking pool.
            let outcome = try await BlockingPool.jobs.run { [layers, backing] in
                try ChainMerge.collapse(layers: layers, backing: backing, output: output) { done in
                    progress((Double(position) + done) / disks)
                }
            }
            try DurableFile.renameOrThrow(from: output, to: path)
            try DurableFile.syncDirectory(directory)
            manifest.disks[position].backingFile = backing
            manifest.disks[position].copy = backing == nil ? .full : .incremental
            manifest.disks[position].runs = outcome.runs
            manifest.disks[position].bytesWritten = outcome.bytesWritten
        }
        let type: BackupType = manifest.disks.allSatisfy { $0.backingFile == nil } ? .full : .incremental
        manifest.parentId = type == .full ? nil : newParent
        manifest.backupType = type
        try DurableFile.write(try manifest.encoded(), to: directory + "/" + BackupManifest.fileName)
        try await catalog.reparentBackup(kept.backupId, parent: manifest.parentId, type: type)
        logger.info("retention merged \(folded.sorted().joined(separator: ", ")) into \(kept.backupId)")
    }
}

/// A prune's percentage from its merges' fractions: each merge an equal
/// share, told on only when it rose by a whole percent (a merge reports per
/// 4 MiB), 100 at the end.
private final class PruneProgress: Sendable {
    private let merges: Int
    private let report: @Sendable (Double) -> Void
    private let told = Mutex<Double>(0)

    init(merges: Int, report: @escaping @Sendable (Double) -> Void) {
        self.merges = merges
        self.report = report
    }

    func merge(_ step: Int, done fraction: Double) {
        let percent = ((Double(step) + min(max(fraction, 0), 1)) * 100 / Double(max(merges, 1))).rounded(.down)
        let rose = told.withLock { told in
            guard percent >= told + 1, percent < 100 else { return false }
            told = percent
            return true
        }
        if rose { report(percent) }
    }

    func finished() {
        told.withLock { $0 = 100 }
        report(100)
    }
}
