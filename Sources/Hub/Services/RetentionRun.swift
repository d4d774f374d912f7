import Engine
import Foundation
import Logging
import SendenseCore

/// A prune as the hub runs it (after a flow, or asked for): recorded in the
/// job list with the merges it did, failures logged.
enum RetentionRun {
    static func prune(vmName: String, repositoryID: Int64, policy: RetentionPolicy, timeZone: TimeZone, dryRun: Bool,
                      pruner: BackupPruner, jobs: JobLog, logger: Logger) async throws -> PruneReport {
        let job = await jobs.begin("prune", vmName: vmName)
        do {
            // Merges and removals are whole-file work: the blocking pool runs them.
            let report = try await withTaskExecutorPreference(BlockingPool.shared) {
                try await pruner.prune(vmName: vmName, repositoryID: repositoryID, policy: policy, timeZone: timeZone, dryRun: dryRun) { percent in
                    Task { await jobs.progress(job, percent: percent) }
                }
            }
            if !dryRun {
                for (kept, folded) in report.merged.sorted(by: { $0.key < $1.key }) {
                    await jobs.record("merge", vmName: vmName, detail: "\(folded.joined(separator: ", ")) merged into \(kept)")
                }
            }
            let verb = dryRun ? "would remove" : "removed"
            await jobs.end(job, status: "completed", detail: "kept \(report.kept.count), \(verb) \(report.removed.count)" + (report.skipped.map { "; \($0)" } ?? ""))
            return report
        } catch {
            await jobs.end(job, status: "failed", detail: "\(error)")
            logger.error("retention of \(vmName) failed: \(error)")
            throw error
        }
    }
}
