import Foundation
import SendenseCore

/// `POST /restore/disk`: a restore point's disk into a new file or onto an NBD export.
public struct DiskRestoreRequest: Codable, Sendable {
    public struct Target: Codable, Sendable {
        /// `file` or `nbd`.
        public var type: String
        public var path: String?
        /// `raw` (default) or `qcow2`, for a file.
        public var format: String?
        public var uri: String?

        public init(type: String, path: String? = nil, format: String? = nil, uri: String? = nil) {
            self.type = type
            self.path = path
            self.format = format
            self.uri = uri
        }

        public static func file(_ path: String, format: String) -> Target { Target(type: "file", path: path, format: format) }
        public static func nbd(_ uri: String) -> Target { Target(type: "nbd", uri: uri) }
    }

    public var backupId: String
    public var diskIndex: Int
    public var target: Target

    public init(backupId: String, diskIndex: Int, target: Target) {
        self.backupId = backupId
        self.diskIndex = diskIndex
        self.target = target
    }

    enum CodingKeys: String, CodingKey {
        case backupId = "backup_id", diskIndex = "disk_index", target
    }
}

/// A disk restore job, as it runs and once it has ended.
public struct DiskRestoreResponse: Codable, Sendable {
    public var jobId: String
    public var backupId: String
    public var diskIndex: Int
    /// `in_progress` while it runs, then `completed`, `failed` or `cancelled`.
    public var status: BackupStatus
    public var bytesDone: UInt64
    public var totalBytes: UInt64
    public var progressPercent: Double
    public var errorMessage: String?
    public var createdAt: Date
    public var completedAt: Date?

    public init(jobId: String, backupId: String, diskIndex: Int, status: BackupStatus, bytesDone: UInt64, totalBytes: UInt64,
                progressPercent: Double, errorMessage: String?, createdAt: Date, completedAt: Date?) {
        self.jobId = jobId
        self.backupId = backupId
        self.diskIndex = diskIndex
        self.status = status
        self.bytesDone = bytesDone
        self.totalBytes = totalBytes
        self.progressPercent = progressPercent
        self.errorMessage = errorMessage
        self.createdAt = createdAt
        self.completedAt = completedAt
    }

    enum CodingKeys: String, CodingKey {
        case jobId = "job_id", backupId = "backup_id", diskIndex = "disk_index", status, bytesDone = "bytes_done"
        case totalBytes = "total_bytes", progressPercent = "progress_percent", errorMessage = "error_message"
        case createdAt = "created_at", completedAt = "completed_at"
    }
}
