import Foundation
import SendenseCore

/// `POST /backups`.
public struct StartBackupRequest: Codable, Sendable {
    public var vmName: String
    public var repositoryID: Int64
    /// `full` or `incremental` (the default); checked by the hub, which names a wrong word.
    public var backupType: String
    public var diskIndexes: [Int]?

    public init(vmName: String, repositoryID: Int64, backupType: BackupType, diskIndexes: [Int]? = nil) {
        self.vmName = vmName
        self.repositoryID = repositoryID
        self.backupType = backupType.rawValue
        self.diskIndexes = diskIndexes
    }

    enum CodingKeys: String, CodingKey {
        case vmName = "vm_name", repositoryID = "repository_id", backupType = "backup_type", diskIndexes = "disk_indexes"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        vmName = try container.decode(String.self, forKey: .vmName)
        backupType = try container.decodeIfPresent(String.self, forKey: .backupType) ?? BackupType.incremental.rawValue
        diskIndexes = try container.decodeIfPresent([Int].self, forKey: .diskIndexes)
        guard let id = try container.decodeRepositoryIDIfPresent(forKey: .repositoryID) else {
            throw DecodingError.keyNotFound(CodingKeys.repositoryID, .init(codingPath: container.codingPath, debugDescription: "repository_id is required"))
        }
        repositoryID = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(vmName, forKey: .vmName)
        try container.encode(String(repositoryID), forKey: .repositoryID)
        try container.encode(backupType, forKey: .backupType)
        try container.encodeIfPresent(diskIndexes, forKey: .diskIndexes)
    }
}

public struct StartBackupResponse: Codable, Sendable {
    public struct DiskResult: Codable, Sendable {
        public var diskId: Int64
        public var diskIndex: Int
        public var vmwareDiskKey: Int?
        public var qcow2Path: String
        public var status: BackupStatus

        public init(diskId: Int64, diskIndex: Int, vmwareDiskKey: Int?, qcow2Path: String, status: BackupStatus) {
            self.diskId = diskId
            self.diskIndex = diskIndex
            self.vmwareDiskKey = vmwareDiskKey
            self.qcow2Path = qcow2Path
            self.status = status
        }

        enum CodingKeys: String, CodingKey {
            case diskId = "disk_id", diskIndex = "disk_index", vmwareDiskKey = "vmware_disk_key", qcow2Path = "qcow2_path", status
        }
    }

    public var backupId: String
    public var vmContextId: String
    public var vmName: String
    public var backupType: BackupType
    public var status: BackupStatus
    public var diskResults: [DiskResult]
    public var note: String?
    public var createdAt: Date

    public init(backupId: String, vmContextId: String, vmName: String, backupType: BackupType, status: BackupStatus,
                diskResults: [DiskResult], note: String?, createdAt: Date) {
        self.backupId = backupId
        self.vmContextId = vmContextId
        self.vmName = vmName
        self.backupType = backupType
        self.status = status
        self.diskResults = diskResults
        self.note = note
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case backupId = "backup_id", vmContextId = "vm_context_id", vmName = "vm_name", backupType = "backup_type", status
        case diskResults = "disk_results", note, createdAt = "created_at"
    }
}

/// `GET /backups/{id}`: a backup with live progress while it runs.
public struct BackupDetailResponse: Codable, Sendable {
    public struct Disk: Codable, Sendable {
        public var diskIndex: Int
        public var status: BackupStatus
        public var sizeGb: Int64
        public var capacityBytes: Int64
        public var qcow2Path: String
        public var bytesTransferred: Int64
        public var progressPercent: Double
        public var checkpoint: String?

        public init(diskIndex: Int, status: BackupStatus, capacityBytes: Int64, qcow2Path: String,
                    bytesTransferred: Int64, progressPercent: Double, checkpoint: String?) {
            self.diskIndex = diskIndex
            self.status = status
            self.sizeGb = wholeGibibytes(capacityBytes)
            self.capacityBytes = capacityBytes
            self.qcow2Path = qcow2Path
            self.bytesTransferred = bytesTransferred
            self.progressPercent = progressPercent
            self.checkpoint = checkpoint
        }

        enum CodingKeys: String, CodingKey {
            case diskIndex = "disk_index", status, sizeGb = "size_gb", capacityBytes = "capacity_bytes", qcow2Path = "qcow2_path"
            case bytesTransferred = "bytes_transferred", progressPercent = "progress_percent", checkpoint
        }
    }

    public var backupId: String
    public var vmName: String
    public var repositoryId: String
    public var status: BackupStatus
    public var backupType: BackupType
    @Nullable public var parentBackupId: String?
    public var disks: [Disk]
    public var progressPercent: Double
    public var bytesTransferred: Int64
    public var totalBytes: Int64
    public var transferSpeedBps: Int64
    @Nullable public var etaSeconds: Int64?
    @Nullable public var currentPhase: String?
    @Nullable public var errorMessage: String?
    @Nullable public var note: String?
    /// `application_consistent`, `crash_consistent` or `powered_off`; null when the source cannot tell (VMware) or before it was recorded.
    @Nullable public var consistency: PointConsistency?
    public var createdAt: Date
    @Nullable public var completedAt: Date?

    public init(backupId: String, vmName: String, repositoryId: String, status: BackupStatus, backupType: BackupType,
                parentBackupId: String?, disks: [Disk], progressPercent: Double, bytesTransferred: Int64, totalBytes: Int64,
                transferSpeedBps: Int64, etaSeconds: Int64?, currentPhase: String?, errorMessage: String?, note: String?,
                consistency: PointConsistency? = nil, createdAt: Date, completedAt: Date?) {
        self.consistency = consistency
        self.backupId = backupId
        self.vmName = vmName
        self.repositoryId = repositoryId
        self.status = status
        self.backupType = backupType
        self.parentBackupId = parentBackupId
        self.disks = disks
        self.progressPercent = progressPercent
        self.bytesTransferred = bytesTransferred
        self.totalBytes = totalBytes
        self.transferSpeedBps = transferSpeedBps
        self.etaSeconds = etaSeconds
        self.currentPhase = currentPhase
        self.errorMessage = errorMessage
        self.note = note
        self.createdAt = createdAt
        self.completedAt = completedAt
    }

    enum CodingKeys: String, CodingKey {
        case backupId = "backup_id", vmName = "vm_name", repositoryId = "repository_id", status, backupType = "backup_type"
        case parentBackupId = "parent_backup_id", disks, progressPercent = "progress_percent", bytesTransferred = "bytes_transferred"
        case totalBytes = "total_bytes", transferSpeedBps = "transfer_speed_bps", etaSeconds = "eta_seconds", currentPhase = "current_phase"
        case errorMessage = "error_message", note, consistency, createdAt = "created_at", completedAt = "completed_at"
    }
}

/// `GET /backups`: a page, newest first.
public struct BackupListResponse: Codable, Sendable {
    public struct Item: Codable, Sendable {
        public var backupId: String
        public var vmName: String
        public var repositoryId: String
        public var backupType: BackupType
        public var status: BackupStatus
        public var totalSizeGb: Double
        public var diskCount: Int
        public var createdAt: Date
        public var completedAt: Date?
        public var durationSeconds: Int?
        @Nullable public var consistency: PointConsistency?

        public init(backupId: String, vmName: String, repositoryId: String, backupType: BackupType, status: BackupStatus,
                    totalSizeGb: Double, diskCount: Int, createdAt: Date, completedAt: Date?, durationSeconds: Int?,
                    consistency: PointConsistency? = nil) {
            self.consistency = consistency
            self.backupId = backupId
            self.vmName = vmName
            self.repositoryId = repositoryId
            self.backupType = backupType
            self.status = status
            self.totalSizeGb = totalSizeGb
            self.diskCount = diskCount
            self.createdAt = createdAt
            self.completedAt = completedAt
            self.durationSeconds = durationSeconds
        }

        enum CodingKeys: String, CodingKey {
            case backupId = "backup_id", vmName = "vm_name", repositoryId = "repository_id", backupType = "backup_type", status
            case totalSizeGb = "total_size_gb", diskCount = "disk_count", createdAt = "created_at", completedAt = "completed_at"
            case durationSeconds = "duration_seconds", consistency
        }
    }

    public var backups: [Item]
    public var totalCount: Int

    public init(backups: [Item], totalCount: Int) {
        self.backups = backups
        self.totalCount = totalCount
    }

    enum CodingKeys: String, CodingKey {
        case backups, totalCount = "total_count"
    }
}

/// `GET /backups/chain`: a VM's restore points in a repository, oldest first.
public struct ChainResponse: Codable, Sendable {
    public struct Link: Codable, Sendable {
        public var backupId: String
        public var backupType: BackupType
        public var sequenceNumber: Int
        public var createdAt: Date
        public var sizeGb: Double
        public var parentBackupId: String?
        public var isRestorable: Bool
        @Nullable public var consistency: PointConsistency?
        /// The newest boot check's verdict (passed, failed, error); null when never boot-checked.
        @Nullable public var bootCheck: BootCheckStatus?
        @Nullable public var bootCheckId: String?

        public init(backupId: String, backupType: BackupType, sequenceNumber: Int, createdAt: Date, sizeGb: Double,
                    parentBackupId: String?, isRestorable: Bool, consistency: PointConsistency? = nil, bootCheck: BootCheckStatus? = nil,
                    bootCheckId: String? = nil) {
            self.consistency = consistency
            self.bootCheck = bootCheck
            self.bootCheckId = bootCheckId
            self.backupId = backupId
            self.backupType = backupType
            self.sequenceNumber = sequenceNumber
            self.createdAt = createdAt
            self.sizeGb = sizeGb
            self.parentBackupId = parentBackupId
            self.isRestorable = isRestorable
        }

        enum CodingKeys: String, CodingKey {
            case backupId = "backup_id", backupType = "backup_type", sequenceNumber = "sequence_number", createdAt = "created_at"
            case sizeGb = "size_gb", parentBackupId = "parent_backup_id", isRestorable = "is_restorable", consistency
            case bootCheck = "boot_check", bootCheckId = "boot_check_id"
        }
    }

    public var vmName: String
    public var repositoryId: String
    public var chain: [Link]
    public var totalBackups: Int
    public var chainSizeGb: Double

    public init(vmName: String, repositoryId: String, chain: [Link], totalBackups: Int, chainSizeGb: Double) {
        self.vmName = vmName
        self.repositoryId = repositoryId
        self.chain = chain
        self.totalBackups = totalBackups
        self.chainSizeGb = chainSizeGb
    }

    enum CodingKeys: String, CodingKey {
        case vmName = "vm_name", repositoryId = "repository_id", chain, totalBackups = "total_backups", chainSizeGb = "chain_size_gb"
    }
}

/// A short answer about one backup (cancel, delete).
public struct MessageResponse: Codable, Sendable {
    public var message: String
    public var backupId: String?
    /// What a delete removed, the asked-for backup and (with cascade) those built on it.
    public var deleted: [String]?

    public init(message: String, backupId: String? = nil, deleted: [String]? = nil) {
        self.message = message
        self.backupId = backupId
        self.deleted = deleted
    }

    enum CodingKeys: String, CodingKey {
        case message, backupId = "backup_id", deleted
    }
}

/// `POST /backups/{id}/verify`.
public struct VerifyResponse: Codable, Sendable {
    public var backupId: String
    /// `ok` or `mismatch`.
    public var status: String
    public var runsChecked: Int
    public var bytesChecked: UInt64
    public var firstMismatch: String?

    public init(backupId: String, ok: Bool, runsChecked: Int, bytesChecked: UInt64, firstMismatch: String?) {
        self.backupId = backupId
        self.status = ok ? "ok" : "mismatch"
        self.runsChecked = runsChecked
        self.bytesChecked = bytesChecked
        self.firstMismatch = firstMismatch
    }

    public var ok: Bool { status == "ok" }

    enum CodingKeys: String, CodingKey {
        case backupId = "backup_id", status, runsChecked = "runs_checked", bytesChecked = "bytes_checked", firstMismatch = "first_mismatch"
    }
}
