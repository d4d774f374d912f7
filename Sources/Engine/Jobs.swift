import Catalog
import Foundation
import Logging
import SendenseCore

/// A job as the API lists it, whatever its kind.
public struct Job: Sendable, Equatable {
    public var id: String
    public var kind: JobKind
    public var state: JobState
    public var vmName: String?
    /// What it did or does (a prune's counts; a backup's type).
    public var detail: String?
    public var errorMessage: String?
    public var createdAt: Date
    public var completedAt: Date?
    public var percent: Double
    /// A restore's restore point (and disk, for a disk restore), and its bytes.
    public var backupID: String?
    public var diskIndex: Int?
    public var bytesDone: UInt64
    public var totalBytes: UInt64
}

/// How a job's work ended when it did not throw: a verify that found a
/// mismatch ends failed without an error.
public struct JobEnd: Sendable {
    public var state: JobState
    public var detail: String?

    public static func completed(_ detail: String? = nil) -> JobEnd { JobEnd(state: .completed, detail: detail) }
    public static func failed(_ detail: String) -> JobEnd { JobEnd(state: .failed, detail: detail) }
}

/// The one registry of long-running work (think Proxmox's `WorkerTask`).
/// Every job but a backup — restore, verify, prune, merge, cleanup, and the
/// kinds to come — is started here: it gets an id, a durable `job_history`
/// row from its start, live progress, cancellation, and exactly one final
/// state, recorded whatever happens (a restart fails the rows it cut short,
/// `StartupRecovery`). A backup keeps its own rows (`backup_jobs`) and
/// bookkeeping in `BackupService`, which `adopt`s it here while it runs: so
/// the list's live progress and cancelling go through here for every kind.
public actor Jobs {
    private struct Running {
        var job: Job
        var progress: JobProgress
        var task: Task<Void, Never>?
        var cancellable: Bool
    }

    /// A job another service runs and records in its own rows (a backup).
    private struct Adopted {
        var percent: @Sendable () -> Double
        var cancel: @Sendable () async -> Bool
    }

    private let catalog: CatalogDatabase
    private let logger: Logger
    private var running: [String: Running] = [:]
    private var adopted: [String: Adopted] = [:]
    /// The list's rows, kept until a backup, a job or a recovery changes: GET /jobs read
    /// two hundred of them each time (a third of its cost), mostly the same ones.
    private let listRows: KeptValues<Int, CatalogDatabase.JobListRows>
    private var shuttingDown = false

    public init(catalog: CatalogDatabase, logger: Logger) {
        self.catalog = catalog
        self.logger = logger
        listRows = KeptValues(changes: catalog.backupChanges)
    }

    /// Holds a job another service runs (and records) while it runs.
    public func adopt(_ id: String, percent: @escaping @Sendable () -> Double, cancel: @escaping @Sendable () async -> Bool) {
        adopted[id] = Adopted(percent: percent, cancel: cancel)
    }

    /// An adopted job has ended (its service recorded how).
    public func release(_ id: String) { adopted[id] = nil }

    /// Starts a job in the background and answers it as recorded (running).
    /// `executor`: where its work runs (nil: the cooperative pool); work
    /// that blocks on files or a share belongs on `BlockingPool`.
    /// `id`: one made beforehand with `newID` (the job's own rows are written under it first).
    public func start(_ kind: JobKind, id: String? = nil, vmName: String? = nil, detail: String? = nil, restoring point: (backupID: String, diskIndex: Int?)? = nil,
                      on executor: (any TaskExecutor)? = nil, cancellable: Bool = true,
                      _ work: @escaping @Sendable (JobProgress) async throws -> JobEnd) async -> Job {
        let (id, progress) = await begin(kind, id: id, vmName: vmName, detail: detail, restoring: point, cancellable: cancellable)
        running[id]?.task = Task(executorPreference: executor) {
            let end: JobEnd
            do {
                end = try await work(progress)
            } catch {
                end = await self.end(of: error)
            }
            await self.finish(id, end)
        }
        return snapshot(of: id)!
    }

    /// Runs a job and waits for its value: routes that answer with the
    /// outcome (verify, prune). The work runs in a task of its own, so a
    /// client that goes away does not cut it short; `cancel` does.
    public func run<Value: Sendable>(_ kind: JobKind, vmName: String? = nil, on executor: (any TaskExecutor)? = nil, cancellable: Bool = true,
                                     _ work: @escaping @Sendable (JobProgress) async throws -> (Value, JobEnd)) async throws -> Value {
        let (id, progress) = await begin(kind, id: nil, vmName: vmName, detail: nil, restoring: nil, cancellable: cancellable)
        let task = Task(executorPreference: executor) { () async throws -> Value in
            do {
                let (value, end) = try await work(progress)
                await self.finish(id, end)
                return value
            } catch {
                await self.finish(id, await self.end(of: error))
                throw error
            }
        }
        running[id]?.task = Task { _ = try? await task.value }
        return try await task.value
    }

    /// A job recorded once it is done (a merge inside a prune, a periodic
    /// cleanup that cleaned something).
    public func record(_ kind: JobKind, vmName: String?, detail: String, startedAt: Date = Date()) async {
        await save(JobHistoryRecord(jobId: Self.newID(kind), type: kind, status: .completed, vmName: vmName, detail: detail,
                                    createdAt: startedAt, completedAt: Date()))
    }

    /// A job by id: live while this process runs it, else as recorded.
    public func job(_ id: String) async throws -> Job? {
        if let live = snapshot(of: id) { return live }
        if let recovery = try await catalog.recovery(id: id) { return Self.job(from: recovery) }
        return try await catalog.job(id: id).map(Self.job(from:))
    }

    /// Every running backup, and the newest `limit` jobs of every kind,
    /// newest first; running ones with their live progress.
    public func recent(limit: Int) async throws -> [Job] {
        let rows = try await listRows.value(for: limit) { [catalog] in try await catalog.recentJobRows(limit: limit) }
        var jobs: [Job] = []
        for backup in rows.backups {
            let percent = adopted[backup.backupId]?.percent() ?? (backup.status == .completed ? 100
                : backup.totalBytes > 0 ? Double(backup.bytesTransferred) * 100 / Double(backup.totalBytes) : 0)
            jobs.append(Job(id: backup.backupId, kind: .backup, state: backup.status.jobState, vmName: backup.vmName,
                            detail: backup.backupType.rawValue, errorMessage: backup.errorMessage, createdAt: backup.createdAt,
                            completedAt: backup.completedAt, percent: percent, backupID: backup.backupId, diskIndex: nil,
                            bytesDone: UInt64(max(0, backup.bytesTransferred)), totalBytes: UInt64(max(0, backup.totalBytes))))
        }
        for record in rows.jobs {
            jobs.append(snapshot(of: record.jobId) ?? Self.job(from: record))
        }
        jobs += rows.recoveries.map(Self.job(from:))
        return jobs.sorted { $0.createdAt > $1.createdAt }
    }

    /// Cancels a running job of any kind.
    public func cancel(_ id: String) async throws -> CancelOutcome {
        if let job = adopted[id], await job.cancel() { return .cancelling }
        if let job = running[id] {
            guard job.cancellable else { return .notCancellable }
            job.task?.cancel()
            return .cancelling
        }
        if try await catalog.backup(id: id) != nil { return .notRunning }
        if try await catalog.job(id: id) != nil { return .notRunning }
        if try await catalog.recovery(id: id) != nil { return .notRunning }
        return .unknown
    }

    public enum CancelOutcome: Sendable {
        case cancelling
        /// It exists and has ended.
        case notRunning
        /// It runs to its end (a cleanup).
        case notCancellable
        case unknown
    }

    /// The restores (and boot checks) running now and the point each reads:
    /// such a point (and every one it builds on) is neither deleted nor merged meanwhile.
    public func restoresRunning() -> [(jobID: String, backupID: String, vmName: String?)] {
        running.values.compactMap { entry in
            guard [.restore, .bootCheck].contains(entry.job.kind), let backupID = entry.job.backupID else { return nil }
            return (entry.job.id, backupID, entry.job.vmName)
        }
    }

    /// Waits until a job started here has ended (tests, shutdown).
    public func wait(for id: String) async { await running[id]?.task?.value }

    /// Stops what runs (each ends failed, interrupted by the shutdown) and
    /// waits for every job to record its end.
    public func shutdown() async {
        shuttingDown = true
        let tasks = running.values.compactMap(\.task)
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    // MARK: the life of one job

    private func begin(_ kind: JobKind, id: String?, vmName: String?, detail: String?, restoring point: (backupID: String, diskIndex: Int?)?,
                       cancellable: Bool) async -> (String, JobProgress) {
        let id = id ?? Self.newID(kind)
        let job = Job(id: id, kind: kind, state: .running, vmName: vmName, detail: detail, errorMessage: nil, createdAt: Date(),
                      completedAt: nil, percent: 0, backupID: point?.backupID, diskIndex: point?.diskIndex, bytesDone: 0, totalBytes: 0)
        let progress = JobProgress()
        running[id] = Running(job: job, progress: progress, cancellable: cancellable)
        await save(Self.record(of: job))  // recorded as running before it can end
        return (id, progress)
    }

    private func finish(_ id: String, _ end: JobEnd) async {
        guard var job = snapshot(of: id) else { return }
        job.state = end.state
        // A job started with a detail (a restore's point and disk) keeps it; the error goes beside it.
        job.detail = job.detail ?? end.detail
        job.errorMessage = end.state == .completed ? nil : end.detail
        job.completedAt = Date()
        if end.state == .completed { job.percent = 100 }
        if end.state == .failed { logger.error("\(job.kind.rawValue) job \(id) failed: \(end.detail ?? "")") }
        // The row must say how it ended even when the job was cancelled:
        // GRDB refuses work in a cancelled task, so it is written from one of its own.
        await Task { await self.save(Self.record(of: job)) }.value
        running[id] = nil
    }

    private func snapshot(of id: String) -> Job? {
        guard let entry = running[id] else { return nil }
        var job = entry.job
        job.bytesDone = entry.progress.done
        job.totalBytes = entry.progress.total
        job.percent = entry.progress.percent
        return job
    }

    private func end(of error: any Error) -> JobEnd {
        if shuttingDown { return .failed("interrupted by hub shutdown") }
        return error is CancellationError ? JobEnd(state: .cancelled, detail: "cancelled by user") : .failed(JobFailure.describe(error))
    }

    public static func newID(_ kind: JobKind) -> String {
        // A restore's id has always been the longer form; clients keep it.
        kind == .restore ? "restore-" + UUID().uuidString.lowercased() : "\(kind.rawValue)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    private static func record(of job: Job) -> JobHistoryRecord {
        JobHistoryRecord(jobId: job.id, type: job.kind, status: job.state, vmName: job.vmName, detail: job.detail,
                         errorMessage: job.errorMessage, createdAt: job.createdAt, completedAt: job.completedAt,
                         backupId: job.backupID, diskIndex: job.diskIndex,
                         bytesDone: job.kind == .restore ? Int64(job.bytesDone) : nil,
                         totalBytes: job.kind == .restore ? Int64(job.totalBytes) : nil)
    }

    private static func job(from record: JobHistoryRecord) -> Job {
        Job(id: record.jobId, kind: record.type, state: record.status, vmName: record.vmName, detail: record.detail,
            errorMessage: record.errorMessage, createdAt: record.createdAt, completedAt: record.completedAt,
            percent: record.status == .completed ? 100 : 0,
            backupID: record.backupId, diskIndex: record.diskIndex,
            bytesDone: UInt64(max(0, record.bytesDone ?? 0)), totalBytes: UInt64(max(0, record.totalBytes ?? 0)))
    }

    /// An instant recovery session as a job: running while it holds its VM.
    private static func job(from record: RecoveryRecord) -> Job {
        Job(id: record.recoveryId, kind: .recovery, state: record.state.jobState, vmName: record.vmName,
            detail: "domain \(record.domainName) from \(record.backupId)", errorMessage: record.errorMessage, createdAt: record.createdAt,
            completedAt: record.endedAt, percent: record.state == .stopped ? 100 : 0, backupID: record.backupId, diskIndex: nil,
            bytesDone: 0, totalBytes: 0)
    }

    private func save(_ record: JobHistoryRecord) async {
        do {
            try await catalog.saveJob(record)
        } catch {
            logger.error("job \(record.jobId) could not be recorded: \(error)")
        }
    }
}
