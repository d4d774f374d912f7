import BackupSources
import Catalog
import Foundation
import Logging
import Repository
import SendenseCore

#if canImport(Glibc)
import Glibc
#endif

/// Cleans up after failures so nobody has to: at start, every minute, and on
/// `POST /maintenance/cleanup`. Each step touches only what no live job owns.
public actor Janitor {
    public struct Report: Sendable, Encodable {
        var stalledJobs: [String] = []
        var stoppedProcesses: [Int32] = []
        var forgottenProcesses = 0
        var removedPartials: [String] = []
        var closedSessions: [String] = []
        var removedSnapshots: [String] = []
        /// What live backups left, cleaned: libvirt jobs ended, guests thawed, stale checkpoints deleted,
        /// QEMU exports, jobs and overlays removed, bitmaps made whole, folders removed.
        var liveBackups: [String] = []
        var durationMs = 0

        enum CodingKeys: String, CodingKey {
            case stalledJobs = "stalled_jobs", stoppedProcesses = "stopped_processes", forgottenProcesses = "forgotten_processes"
            case removedPartials = "removed_partials", closedSessions = "closed_sessions", removedSnapshots = "removed_snapshots", liveBackups = "live_backups"
            case durationMs = "duration_ms"
        }

        var summary: String {
            "\(stalledJobs.count) stalled, \(stoppedProcesses.count) processes stopped, "
                + "\(removedPartials.count) partials, \(closedSessions.count) sessions, \(removedSnapshots.count) snapshots, \(liveBackups.count) live-backup leftovers"
        }

        var cleanedSomething: Bool {
            !stalledJobs.isEmpty || !stoppedProcesses.isEmpty || forgottenProcesses > 0 || !removedPartials.isEmpty
                || !closedSessions.isEmpty || !removedSnapshots.isEmpty || !liveBackups.isEmpty
        }
    }

    /// Finished jobs older than this leave the job history.
    static let jobHistoryDays = 90

    let catalog: CatalogDatabase
    let backups: BackupService
    let sessions: RestoreSessions
    let vmware: VMwareCredentials
    let jobs: Jobs
    let stallTimeout: Duration
    /// The hub's run directory: its live backups' QEMU folders are named from it.
    let runDirectory: String
    let logger: Logger

    public init(catalog: CatalogDatabase, backups: BackupService, sessions: RestoreSessions, vmware: VMwareCredentials,
         jobs: Jobs, stallTimeout: Duration, runDirectory: String, logger: Logger) {
        self.runDirectory = runDirectory
        self.catalog = catalog
        self.backups = backups
        self.sessions = sessions
        self.vmware = vmware
        self.jobs = jobs
        self.stallTimeout = stallTimeout
        self.logger = logger
    }

    /// `always`: the run is a job in the list even if it found nothing to
    /// do (asked for); the every-minute runs join the list only when they
    /// cleaned something, or the list would be a cleanup a minute.
    public func run(always: Bool = true) async -> Report {
        guard always else {
            let started = Date()
            let report = await sweep()
            if report.cleanedSomething { await jobs.record(.cleanup, vmName: nil, detail: report.summary, startedAt: started) }
            return report
        }
        // Its work throws nothing, and a cleanup is not cancellable.
        return (try? await jobs.run(.cleanup, cancellable: false) { _ in
            let report = await self.sweep()
            return (report, .completed(report.summary))
        }) ?? Report()
    }

    private func sweep() async -> Report {
        let start = ContinuousClock.now
        let started = Date()
        var report = Report()

        // 1. Jobs that stopped moving: failed with the reason, which stops their NBD servers too.
        for id in await backups.stalledBackups(after: stallTimeout) {
            await backups.fail(id, reason: "stalled: no progress for \(Self.describe(stallTimeout))")
            report.stalledJobs.append(id)
            logger.warning("backup \(id) stalled (no progress for \(Self.describe(stallTimeout))): cancelled")
        }

        // 2. NBD servers no live job owns. A row whose PID now names another process (another start time) is only forgotten.
        for row in (try? await catalog.childProcesses()) ?? [] {
            let child = ChildProcess(pid: Int32(row.pid), startTime: UInt64(row.startTime), command: row.command, jobID: row.jobId)
            if child.isRunning {
                if let owner = row.jobId, await backups.isRunning(owner) { continue }
                kill(child.pid, SIGKILL)
                report.stoppedProcesses.append(child.pid)
                logger.warning("stopped \(row.command) \(row.pid) left by \(row.jobId ?? "no job")")
            } else {
                report.forgottenProcesses += 1
            }
            try? await catalog.forgetChildProcess(pid: row.pid, startTime: row.startTime)
        }

        // 3. Partial backup folders of backups that are not running.
        let records = (try? await catalog.repositories()) ?? []
        for contents in await BlockingPool.shared.run({ RepositoryService.contents(of: records) }) {
            for partial in contents.partials {
                guard await !backups.isRunning(partial.backupID) else { continue }
                let path = partial.path
                if await BlockingPool.shared.run({ (try? FileManager.default.removeItem(atPath: path)) != nil }) {
                    report.removedPartials.append(path)
                    logger.warning("removed leftover \(path)")
                }
            }
        }

        // 4. Restore sessions past their lifetime.
        report.closedSessions = await sessions.sweep()

        // 5. sendense-* snapshots in vCenter that no running backup owns.
        report.removedSnapshots = await vmware.removeLeftoverSnapshots(isRunning: { [backups] in await backups.isRunning($0) }, logger: logger)

        // 6. What live backups left: QMP sessions first (they need their folders to be found), then libvirt's.
        let running: @Sendable (String) async -> Bool = { [backups] in await backups.isRunning($0) }
        report.liveBackups = await QMPCleanup.run(catalog: catalog, runDirectory: runDirectory, isRunning: running)
            + LibvirtCleanup.run(catalog: catalog, runDirectory: runDirectory, images: false, isRunning: running)
        for line in report.liveBackups { logger.warning("\(line)") }

        // 7. The job history's old finished rows.
        try? await catalog.forgetJobs(finishedBefore: started.addingTimeInterval(-Double(Self.jobHistoryDays) * 86400))

        let elapsed = ContinuousClock.now - start
        report.durationMs = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
        return report
    }

    /// "10 min", "90 s".
    static func describe(_ duration: Duration) -> String {
        let seconds = duration.components.seconds
        return seconds >= 60 && seconds % 60 == 0 ? "\(seconds / 60) min" : "\(seconds) s"
    }
}
