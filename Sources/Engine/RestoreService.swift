import Foundation
import SendenseCore

/// Disk restores running as jobs: each has an id, live progress and a final
/// status the API reports.
public actor RestoreService {
    public struct Status: Sendable {
        public var jobID: String
        public var backupID: String
        public var diskIndex: Int
        public var status: String
        public var bytesDone: UInt64
        public var totalBytes: UInt64
        public var errorMessage: String?
        public var createdAt: Date
        public var completedAt: Date?

        /// How far it got, 0 to 100; 100 once completed.
        public var percent: Double {
            status == "completed" ? 100 : totalBytes == 0 ? 0 : Double(bytesDone) * 100 / Double(totalBytes)
        }

        public init(jobID: String, backupID: String, diskIndex: Int, status: String, bytesDone: UInt64, totalBytes: UInt64,
                    errorMessage: String? = nil, createdAt: Date, completedAt: Date? = nil) {
            self.jobID = jobID
            self.backupID = backupID
            self.diskIndex = diskIndex
            self.status = status
            self.bytesDone = bytesDone
            self.totalBytes = totalBytes
            self.errorMessage = errorMessage
            self.createdAt = createdAt
            self.completedAt = completedAt
        }
    }

    private struct Job {
        var status: Status
        var progress: DiskRestore.Progress
        var task: Task<Void, Never>?
    }

    private var jobs: [String: Job] = [:]
    /// Finished jobs kept for the API (the oldest go first): a hub that
    /// restores all day must not grow without end.
    private let keepFinished: Int
    /// Told each job as it starts and as it ends (the hub records them).
    private let onChange: @Sendable (Status) async -> Void

    public init(keepFinished: Int = 500, onChange: @escaping @Sendable (Status) async -> Void = { _ in }) {
        self.keepFinished = keepFinished
        self.onChange = onChange
    }

    /// Starts restoring `image` (the top of a chain in a repository of kind `repository`).
    public func start(backupID: String, diskIndex: Int, image: String, repository: RepositoryKind = .local,
                      target: DiskRestore.Target) async -> Status {
        let id = "restore-" + UUID().uuidString.lowercased()
        let progress = DiskRestore.Progress()
        let status = Status(jobID: id, backupID: backupID, diskIndex: diskIndex, status: "in_progress", bytesDone: 0,
                            totalBytes: 0, createdAt: Date())
        jobs[id] = Job(status: status, progress: progress)
        await onChange(status)  // recorded as started before it can end
        // Reads the chain with blocking calls: from a share, on the blocking pool.
        jobs[id]?.task = Task(executorPreference: repository.jobExecutor) {
            let outcome: (status: String, error: String?)
            do {
                try await DiskRestore.restore(image: image, to: target, progress: progress)
                outcome = ("completed", nil)
            } catch is CancellationError {
                outcome = ("cancelled", "cancelled by user")
            } catch {
                outcome = ("failed", "\(error)")
            }
            await self.onChange(self.finish(id, status: outcome.status, error: outcome.error))
        }
        return status
    }

    public func status(of id: String) -> Status? {
        guard var job = jobs[id] else { return nil }
        job.status.bytesDone = min(job.progress.done, job.progress.total)
        job.status.totalBytes = job.progress.total
        return job.status
    }

    public func wait(for id: String) async { await jobs[id]?.task?.value }

    /// Every restore job this hub process knows, current progress included.
    public func all() -> [Status] { jobs.keys.sorted().compactMap { status(of: $0) } }

    @discardableResult
    public func cancel(_ id: String) -> Bool {
        guard let job = jobs[id], job.status.status == "in_progress" else { return false }
        job.task?.cancel()
        return true
    }

    private func finish(_ id: String, status: String, error: String?) -> Status {
        jobs[id]?.status.status = status
        jobs[id]?.status.errorMessage = error
        jobs[id]?.status.completedAt = Date()
        let ended = self.status(of: id)!
        defer { forgetOldest() }
        return ended
    }

    private func forgetOldest() {
        let finished = jobs.values.filter { $0.status.completedAt != nil }
        guard finished.count > keepFinished else { return }
        let oldest = finished.sorted { $0.status.completedAt! < $1.status.completedAt! }.prefix(finished.count - keepFinished)
        for job in oldest { jobs[job.status.jobID] = nil }
    }
}
