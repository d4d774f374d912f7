import Foundation
import SendenseCore

/// A flow's rule for fulls: every Nth backup of a VM, or weekly. On the wire
/// a number or `"weekly"`.
public enum FullEvery: Codable, Sendable, Equatable {
    case runs(Int)
    case weekly

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let runs = try? container.decode(Int.self) {
            self = .runs(runs)
        } else if try container.decode(String.self) == "weekly" {
            self = .weekly
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected a number of backups or \"weekly\"")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .runs(let runs): try container.encode(runs)
        case .weekly: try container.encode("weekly")
        }
    }
}

/// A flow as a client sends it; on PUT every field is optional.
public struct ProtectionFlowRequest: Codable, Sendable {
    public var name: String?
    /// `vm` or `group`.
    public var targetType: String?
    /// The VM's name, or the group's id.
    public var targetId: String?
    public var repositoryId: Int64?
    public var schedule: String?
    public var timeZone: String?
    public var backupType: String?
    public var fullEvery: FullEvery?
    /// Whether `full_every` was sent at all: `null` clears it, leaving it out keeps it.
    public var fullEveryGiven = false
    public var retention: RetentionPolicy?
    public var enabled: Bool?
    /// Verify each completed backup by booting it (a boot check with the agent heartbeat).
    public var bootCheck: Bool?

    public init(name: String? = nil, targetType: String? = nil, targetId: String? = nil, repositoryId: Int64? = nil,
                schedule: String? = nil, timeZone: String? = nil, backupType: String? = nil, fullEvery: FullEvery? = nil,
                retention: RetentionPolicy? = nil, enabled: Bool? = nil, bootCheck: Bool? = nil) {
        self.name = name
        self.targetType = targetType
        self.targetId = targetId
        self.repositoryId = repositoryId
        self.schedule = schedule
        self.timeZone = timeZone
        self.backupType = backupType
        self.fullEvery = fullEvery
        self.fullEveryGiven = fullEvery != nil
        self.retention = retention
        self.enabled = enabled
        self.bootCheck = bootCheck
    }

    enum CodingKeys: String, CodingKey {
        case name, schedule, retention, enabled
        case targetType = "target_type", targetId = "target_id", repositoryId = "repository_id", timeZone = "time_zone"
        case backupType = "backup_type", fullEvery = "full_every", bootCheck = "boot_check"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        targetType = try c.decodeIfPresent(String.self, forKey: .targetType)
        // Ids are written as strings in API.md ("1"); numbers are accepted too.
        if let number = try? c.decodeIfPresent(Int64.self, forKey: .targetId) {
            targetId = String(number)
        } else {
            targetId = try c.decodeIfPresent(String.self, forKey: .targetId)
        }
        repositoryId = try c.decodeRepositoryIDIfPresent(forKey: .repositoryId)
        schedule = try c.decodeIfPresent(String.self, forKey: .schedule)
        timeZone = try c.decodeIfPresent(String.self, forKey: .timeZone)
        backupType = try c.decodeIfPresent(String.self, forKey: .backupType)
        fullEveryGiven = c.contains(.fullEvery)
        fullEvery = try c.decodeIfPresent(FullEvery.self, forKey: .fullEvery)
        retention = try c.decodeIfPresent(RetentionPolicy.self, forKey: .retention)
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled)
        bootCheck = try c.decodeIfPresent(Bool.self, forKey: .bootCheck)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(name, forKey: .name)
        try c.encodeIfPresent(targetType, forKey: .targetType)
        try c.encodeIfPresent(targetId, forKey: .targetId)
        try c.encodeIfPresent(repositoryId.map(String.init), forKey: .repositoryId)
        try c.encodeIfPresent(schedule, forKey: .schedule)
        try c.encodeIfPresent(timeZone, forKey: .timeZone)
        try c.encodeIfPresent(backupType, forKey: .backupType)
        if fullEveryGiven { try c.encode(fullEvery, forKey: .fullEvery) }
        try c.encodeIfPresent(retention, forKey: .retention)
        try c.encodeIfPresent(enabled, forKey: .enabled)
        try c.encodeIfPresent(bootCheck, forKey: .bootCheck)
    }
}

public struct ProtectionFlowResponse: Codable, Sendable {
    public var id: Int64
    public var name: String
    public var targetType: String
    public var targetId: String
    /// The VM's name, or the group's name.
    @Nullable public var targetName: String?
    public var repositoryId: String
    public var schedule: String
    public var timeZone: String
    public var backupType: BackupType
    @Nullable public var fullEvery: FullEvery?
    public var retention: RetentionPolicy
    public var enabled: Bool
    /// Each completed backup of the flow is boot-checked.
    public var bootCheck: Bool
    @Nullable public var nextRunAt: Date?
    @Nullable public var lastRunAt: Date?
    @Nullable public var lastExecutionStatus: FlowRunState?
    public var vmCount: Int
    public var createdAt: Date
    public var updatedAt: Date

    public init(id: Int64, name: String, targetType: String, targetId: String, targetName: String?, repositoryId: String,
                schedule: String, timeZone: String, backupType: BackupType, fullEvery: FullEvery?, retention: RetentionPolicy,
                enabled: Bool, bootCheck: Bool = false, nextRunAt: Date?, lastRunAt: Date?, lastExecutionStatus: FlowRunState?, vmCount: Int,
                createdAt: Date, updatedAt: Date) {
        self.id = id
        self.name = name
        self.targetType = targetType
        self.targetId = targetId
        self.targetName = targetName
        self.repositoryId = repositoryId
        self.schedule = schedule
        self.timeZone = timeZone
        self.backupType = backupType
        self.fullEvery = fullEvery
        self.retention = retention
        self.enabled = enabled
        self.bootCheck = bootCheck
        self.nextRunAt = nextRunAt
        self.lastRunAt = lastRunAt
        self.lastExecutionStatus = lastExecutionStatus
        self.vmCount = vmCount
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, name, schedule, retention, enabled, bootCheck = "boot_check"
        case targetType = "target_type", targetId = "target_id", targetName = "target_name", repositoryId = "repository_id"
        case timeZone = "time_zone", backupType = "backup_type", fullEvery = "full_every", nextRunAt = "next_run_at"
        case lastRunAt = "last_run_at", lastExecutionStatus = "last_execution_status", vmCount = "vm_count"
        case createdAt = "created_at", updatedAt = "updated_at"
    }
}

public struct ProtectionFlowListResponse: Codable, Sendable {
    public var flows: [ProtectionFlowResponse]
    public var count: Int

    public init(flows: [ProtectionFlowResponse], count: Int) {
        self.flows = flows
        self.count = count
    }
}

/// One run of a flow, with one entry per VM it covered.
public struct FlowExecutionResponse: Codable, Sendable {
    public struct VM: Codable, Sendable {
        public var vmName: String
        @Nullable public var backupId: String?
        public var status: FlowRunState
        @Nullable public var errorMessage: String?

        public init(vmName: String, backupId: String?, status: FlowRunState, errorMessage: String?) {
            self.vmName = vmName
            self.backupId = backupId
            self.status = status
            self.errorMessage = errorMessage
        }

        enum CodingKeys: String, CodingKey { case vmName = "vm_name", backupId = "backup_id", status, errorMessage = "error_message" }
    }

    public var id: Int64
    public var flowId: Int64
    public var status: FlowRunState
    /// `schedule` or `manual`.
    public var trigger: String
    @Nullable public var errorMessage: String?
    public var startedAt: Date
    @Nullable public var completedAt: Date?
    public var vms: [VM]

    public init(id: Int64, flowId: Int64, status: FlowRunState, trigger: String, errorMessage: String?, startedAt: Date,
                completedAt: Date?, vms: [VM]) {
        self.id = id
        self.flowId = flowId
        self.status = status
        self.trigger = trigger
        self.errorMessage = errorMessage
        self.startedAt = startedAt
        self.completedAt = completedAt
        self.vms = vms
    }

    enum CodingKeys: String, CodingKey {
        case id, status, trigger, vms, flowId = "flow_id", errorMessage = "error_message", startedAt = "started_at", completedAt = "completed_at"
    }
}

public struct FlowExecutionListResponse: Codable, Sendable {
    public var executions: [FlowExecutionResponse]
    public var count: Int

    public init(executions: [FlowExecutionResponse], count: Int) {
        self.executions = executions
        self.count = count
    }
}

/// A VM a flow covers, with its last backup and the flow's next run.
public struct FlowMachineResponse: Codable, Sendable {
    public var vmName: String
    @Nullable public var powerState: String?
    @Nullable public var lastBackupId: String?
    @Nullable public var lastBackupAt: Date?
    @Nullable public var lastBackupStatus: BackupStatus?
    @Nullable public var lastBackupType: BackupType?
    public var restorePoints: Int
    @Nullable public var nextRunAt: Date?

    public init(vmName: String, powerState: String?, lastBackupId: String?, lastBackupAt: Date?, lastBackupStatus: BackupStatus?,
                lastBackupType: BackupType?, restorePoints: Int, nextRunAt: Date?) {
        self.vmName = vmName
        self.powerState = powerState
        self.lastBackupId = lastBackupId
        self.lastBackupAt = lastBackupAt
        self.lastBackupStatus = lastBackupStatus
        self.lastBackupType = lastBackupType
        self.restorePoints = restorePoints
        self.nextRunAt = nextRunAt
    }

    enum CodingKeys: String, CodingKey {
        case vmName = "vm_name", powerState = "power_state", lastBackupId = "last_backup_id", lastBackupAt = "last_backup_at"
        case lastBackupStatus = "last_backup_status", lastBackupType = "last_backup_type", restorePoints = "restore_points", nextRunAt = "next_run_at"
    }
}

public struct FlowMachineListResponse: Codable, Sendable {
    public var machines: [FlowMachineResponse]
    public var count: Int

    public init(machines: [FlowMachineResponse], count: Int) {
        self.machines = machines
        self.count = count
    }
}

/// `POST /protection-flows/{id}/prune`.
public struct PruneRequest: Codable, Sendable {
    public var dryRun: Bool?

    public init(dryRun: Bool?) { self.dryRun = dryRun }

    enum CodingKeys: String, CodingKey { case dryRun = "dry_run" }
}

/// What retention did (or would do) to one VM's restore points.
public struct PruneResult: Codable, Sendable {
    public var vmName: String
    public var kept: [String]
    public var removed: [String]
    /// Kept point → the removed points folded into it.
    public var merged: [String: [String]]
    /// Points the policy would remove that the repository keeps until then (ISO 8601).
    public var immutableUntil: [String: String]
    /// Why nothing was done, when nothing was.
    @Nullable public var skipped: String?

    public init(vmName: String, kept: [String], removed: [String], merged: [String: [String]], immutableUntil: [String: String],
                skipped: String?) {
        self.vmName = vmName
        self.kept = kept
        self.removed = removed
        self.merged = merged
        self.immutableUntil = immutableUntil
        self.skipped = skipped
    }

    enum CodingKeys: String, CodingKey {
        case vmName = "vm_name", kept, removed, merged, immutableUntil = "immutable_until", skipped
    }
}

public struct PruneResponse: Codable, Sendable {
    public var dryRun: Bool
    public var results: [PruneResult]

    public init(dryRun: Bool, results: [PruneResult]) {
        self.dryRun = dryRun
        self.results = results
    }

    enum CodingKeys: String, CodingKey { case dryRun = "dry_run", results }
}

/// `POST`/`PUT /protection-groups`: on PUT every field is optional.
public struct ProtectionGroupRequest: Codable, Sendable {
    public var name: String?
    public var description: String?
    public var vmNames: [String]?

    public init(name: String? = nil, description: String? = nil, vmNames: [String]? = nil) {
        self.name = name
        self.description = description
        self.vmNames = vmNames
    }

    enum CodingKeys: String, CodingKey {
        case name, description, vmNames = "vm_names"
    }
}

public struct ProtectionGroupResponse: Codable, Sendable {
    public var id: Int64
    public var name: String
    @Nullable public var description: String?
    public var vmNames: [String]
    public var vmCount: Int
    public var createdAt: Date
    public var updatedAt: Date

    public init(id: Int64, name: String, description: String?, vmNames: [String], createdAt: Date, updatedAt: Date) {
        self.id = id
        self.name = name
        self.description = description
        self.vmNames = vmNames
        self.vmCount = vmNames.count
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, name, description, vmNames = "vm_names", vmCount = "vm_count", createdAt = "created_at", updatedAt = "updated_at"
    }
}

public struct ProtectionGroupListResponse: Codable, Sendable {
    public var groups: [ProtectionGroupResponse]
    public var count: Int

    public init(groups: [ProtectionGroupResponse], count: Int) {
        self.groups = groups
        self.count = count
    }
}
