import Foundation
import SendenseCore

/// A job of any kind in `GET /jobs`.
public struct JobResponse: Codable, Sendable {
    public var jobId: String
    public var type: JobKind
    public var status: JobState
    @Nullable public var vmName: String?
    public var progressPercent: Double
    @Nullable public var detail: String?
    @Nullable public var errorMessage: String?
    public var createdAt: Date
    @Nullable public var completedAt: Date?

    public init(jobId: String, type: JobKind, status: JobState, vmName: String?, progressPercent: Double, detail: String?,
                errorMessage: String?, createdAt: Date, completedAt: Date?) {
        self.jobId = jobId
        self.type = type
        self.status = status
        self.vmName = vmName
        self.progressPercent = progressPercent
        self.detail = detail
        self.errorMessage = errorMessage
        self.createdAt = createdAt
        self.completedAt = completedAt
    }

    enum CodingKeys: String, CodingKey {
        case jobId = "job_id", type, status, vmName = "vm_name", progressPercent = "progress_percent", detail
        case errorMessage = "error_message", createdAt = "created_at", completedAt = "completed_at"
    }
}

public struct JobListResponse: Codable, Sendable {
    public var jobs: [JobResponse]
    public var count: Int

    public init(jobs: [JobResponse], count: Int) {
        self.jobs = jobs
        self.count = count
    }
}

/// The events of the hub's stream (`GET /events`, server-sent events), by the name each is sent
/// under: the hub sends them, the CLI follows a backup's end by them.
public enum EventName: String, Sendable {
    case jobCreated = "job_created", jobProgress = "job_progress"
    case jobCompleted = "job_completed", jobFailed = "job_failed", jobCancelled = "job_cancelled"
    case mountExpiring = "mount_expiring"

    /// Whether the event says a job ended, however it ended.
    public var endsJob: Bool { self == .jobCompleted || self == .jobFailed || self == .jobCancelled }
}
