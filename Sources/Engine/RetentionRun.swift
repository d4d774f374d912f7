import Foundation
import Logging
import SendenseCore

/// A prune as the hub runs it (after a flow, or asked for): recorded in the
/// job list with the merges it did, failures logged.
public enum RetentionRun {
    public static func prune(vmName: String, repositoryID: Int64, policy: RetentionPolicy, timeZone: TimeZone, dryRun: Bool,
                      pruner: BackupPruner, jobs: Jobs, logger: Logger) async throws -> PruneReport {
        do {
            // Merges and removals are whole-file work: the blocking pool runs them.
            return try await jobs.run(.prune, vmName: vmName, on: BlockingPool.jobs) { progress in
                let report = try await pruner.prune(vmName: vmName, repositoryID: repositoryID, policy: policy, timeZone: timeZone,
                                                    dryRun: dryRun) { progress.report(percent: $0) }
                if !dryRun {
                    for (kept, folded) in report.merged.sorted(by: { $0.key < $1.key }) {
                        await jobs.record(.merge, vmName: vmName, detail: "\(folded.joined(separator: ", ")) merged into \(kept)")
                    }
                }
                let verb = dryRun ? "would remove" : "removed"
                return (report, .completed("kept \(report.kept.count), \(verb) \(report.removed.count)" + (report.skipped.map { "; \($0)" } ?? "")))
            }
        } catch {
            logger.error("retention of \(vmName) failed: \(error)")
            throw error
        }
    }
}
