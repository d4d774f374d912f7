import Foundation
import GRDB
import SendenseCore

/// A named set of VMs that flows can target; a VM may be in several.
public struct ProtectionGroupRecord: CatalogRecord, Sendable, Equatable {
    public static let databaseTableName = "protection_groups"

    public var id: Int64?
    public var name: String
    public var description: String?
    public var createdAt: Date
    public var updatedAt: Date

    public init(name: String, description: String?, now: Date = Date()) {
        self.name = name
        self.description = description
        self.createdAt = now
        self.updatedAt = now
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    enum CodingKeys: String, CodingKey {
        case id
        case name
        case description
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
}

struct ProtectionGroupMemberRecord: CatalogRecord {
    static let databaseTableName = "protection_group_members"
    var groupId: Int64
    var contextId: String

    enum CodingKeys: String, CodingKey {
        case groupId = "group_id"
        case contextId = "context_id"
    }
}

/// What to back up (a VM or a group), where, when, how, and what to keep.
public struct ProtectionFlowRecord: CatalogRecord, Sendable, Equatable {
    public static let databaseTableName = "protection_flows"

    public var id: Int64?
    public var name: String
    /// `vm` (target_id: the VM name) or `group` (target_id: the group id).
    public var targetType: String
    public var targetId: String
    public var repositoryId: Int64
    public var schedule: String
    public var timeZone: String
    public var backupType: BackupType
    /// Every Nth backup of a VM is full (nil: only when needed).
    public var fullEvery: Int?
    /// A full when the VM's last full is a week old or more.
    public var fullWeekly: Bool
    /// What to keep, checked when it was set (`RetentionPolicy.problem`); stored as JSON in `retention_json`.
    public var retention: RetentionPolicy
    public var enabled: Bool
    /// Each completed backup of the flow is verified by booting it (a boot check).
    public var bootCheck: Bool = false
    public var nextRunAt: Date?
    public var lastRunAt: Date?
    public var createdAt: Date
    public var updatedAt: Date

    public init(name: String, targetType: String, targetId: String, repositoryId: Int64, schedule: String, timeZone: String,
                backupType: BackupType, fullEvery: Int?, fullWeekly: Bool, retention: RetentionPolicy = RetentionPolicy(), enabled: Bool,
                now: Date = Date()) {
        self.name = name
        self.targetType = targetType
        self.targetId = targetId
        self.repositoryId = repositoryId
        self.schedule = schedule
        self.timeZone = timeZone
        self.backupType = backupType
        self.fullEvery = fullEvery
        self.fullWeekly = fullWeekly
        self.retention = retention
        self.enabled = enabled
        self.createdAt = now
        self.updatedAt = now
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    /// Read column by column rather than through `Decodable`: its keyed decoding (and a JSON
    /// decoder made per row for `retention_json`) was over half the catalog's share of
    /// GET /protection-flows with a hundred flows (perf).
    public init(row: Row) throws {
        id = try row.decode(forColumn: CodingKeys.id.rawValue)
        name = try row.decode(forColumn: CodingKeys.name.rawValue)
        targetType = try row.decode(forColumn: CodingKeys.targetType.rawValue)
        targetId = try row.decode(forColumn: CodingKeys.targetId.rawValue)
        repositoryId = try row.decode(forColumn: CodingKeys.repositoryId.rawValue)
        schedule = try row.decode(forColumn: CodingKeys.schedule.rawValue)
        timeZone = try row.decode(forColumn: CodingKeys.timeZone.rawValue)
        backupType = try row.decode(forColumn: CodingKeys.backupType.rawValue)
        fullEvery = try row.decode(forColumn: CodingKeys.fullEvery.rawValue)
        fullWeekly = try row.decode(forColumn: CodingKeys.fullWeekly.rawValue)
        let retentionJSON: String = try row.decode(forColumn: CodingKeys.retention.rawValue)
        retention = try Self.retentionDecoder.decode(RetentionPolicy.self, from: Data(retentionJSON.utf8))
        enabled = try row.decode(forColumn: CodingKeys.enabled.rawValue)
        bootCheck = try row.decode(forColumn: CodingKeys.bootCheck.rawValue)
        nextRunAt = try row.decode(forColumn: CodingKeys.nextRunAt.rawValue)
        lastRunAt = try row.decode(forColumn: CodingKeys.lastRunAt.rawValue)
        createdAt = try row.decode(forColumn: CodingKeys.createdAt.rawValue)
        updatedAt = try row.decode(forColumn: CodingKeys.updatedAt.rawValue)
    }

    /// `retention_json` holds only integers: a plain decoder reads what GRDB's encoder wrote.
    private static let retentionDecoder = JSONDecoder()

    enum CodingKeys: String, CodingKey {
        case id, name, schedule, enabled, bootCheck = "boot_check"
        case targetType = "target_type", targetId = "target_id", repositoryId = "repository_id", timeZone = "time_zone"
        case backupType = "backup_type", fullEvery = "full_every", fullWeekly = "full_weekly"
        case retention = "retention_json"
        case nextRunAt = "next_run_at", lastRunAt = "last_run_at", createdAt = "created_at", updatedAt = "updated_at"
    }
}

/// One run of a flow, with one row per VM it covered.
public struct FlowExecutionRecord: CatalogRecord, Sendable, Equatable {
    public static let databaseTableName = "flow_executions"

    public var id: Int64?
    public var flowId: Int64
    public var status: FlowRunState
    /// schedule, manual.
    public var trigger: String
    public var errorMessage: String?
    public var startedAt: Date
    public var completedAt: Date?

    public init(flowId: Int64, trigger: String, now: Date) {
        self.flowId = flowId
        self.status = .running
        self.trigger = trigger
        self.startedAt = now
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    enum CodingKeys: String, CodingKey {
        case id
        case flowId = "flow_id"
        case status
        case trigger
        case errorMessage = "error_message"
        case startedAt = "started_at"
        case completedAt = "completed_at"
    }
}

public struct FlowExecutionVMRecord: CatalogRecord, Sendable, Equatable {
    public static let databaseTableName = "flow_execution_vms"

    public var executionId: Int64
    public var vmName: String
    public var backupId: String?
    /// queued, running, completed, failed or skipped.
    public var status: FlowRunState
    public var errorMessage: String?

    public init(executionId: Int64, vmName: String, status: FlowRunState, backupId: String? = nil, errorMessage: String? = nil) {
        self.executionId = executionId
        self.vmName = vmName
        self.status = status
        self.backupId = backupId
        self.errorMessage = errorMessage
    }

    enum CodingKeys: String, CodingKey {
        case executionId = "execution_id"
        case vmName = "vm_name"
        case backupId = "backup_id"
        case status
        case errorMessage = "error_message"
    }
}

extension CatalogDatabase {
    // MARK: groups

    public func protectionGroups() async throws -> [(ProtectionGroupRecord, [String])] {
        try await pool.read { db in
            try ProtectionGroupRecord.order(Column("name")).fetchAll(db).map { ($0, try Self.memberNames(of: $0.id ?? 0, db)) }
        }
    }

    public func protectionGroup(id: Int64) async throws -> (ProtectionGroupRecord, [String])? {
        try await pool.read { db in
            try ProtectionGroupRecord.fetchOne(db, key: id).map { ($0, try Self.memberNames(of: id, db)) }
        }
    }

    static func memberNames(of groupID: Int64, _ db: Database) throws -> [String] {
        try String.fetchAll(db, sql: """
            SELECT c.vm_name FROM protection_group_members m JOIN vm_contexts c ON c.context_id = m.context_id
            WHERE m.group_id = ? ORDER BY c.vm_name
            """, arguments: [groupID])
    }

    /// Inserts or replaces a group and its members in one transaction. Unknown VM names are refused.
    public func saveProtectionGroup(_ group: ProtectionGroupRecord, vmNames: [String]) async throws -> ProtectionGroupRecord {
        try await pool.write { db in
            var group = group
            var contexts: [String] = []
            for name in vmNames {
                guard let context = try VMContextRecord.filter(Column("vm_name") == name).fetchOne(db) else {
                    throw CatalogError.unknownReference("VM not found: vm_name=\(name)")
                }
                contexts.append(context.contextId)
            }
            try mapUniqueViolation("a protection group named \(group.name) already exists") {
                if group.id == nil { try group.insert(db) } else { try mapMissingRow("protection group not found: id=\(group.id ?? 0)") { try group.update(db) } }
            }
            let id = group.id ?? 0
            try ProtectionGroupMemberRecord.filter(Column("group_id") == id).deleteAll(db)
            for context in Set(contexts) {
                var member = ProtectionGroupMemberRecord(groupId: id, contextId: context)
                try member.insert(db)
            }
            return group
        }
    }

    /// Refused while a flow targets the group.
    public func deleteProtectionGroup(id: Int64) async throws -> Bool {
        try await pool.write { db in
            let flows = try ProtectionFlowRecord.filter(Column("target_type") == "group" && Column("target_id") == String(id)).fetchAll(db)
            guard flows.isEmpty else {
                throw CatalogError.conflict("protection flow \(flows.map(\.name).joined(separator: ", ")) targets this group: delete or change it first")
            }
            return try ProtectionGroupRecord.deleteOne(db, key: id)
        }
    }

    // MARK: flows

    public func protectionFlows() async throws -> [ProtectionFlowRecord] {
        try await pool.read { db in try ProtectionFlowRecord.order(Column("name")).fetchAll(db) }
    }

    /// A flow as lists show it: its target's name, how many VMs it covers, its last execution.
    public struct FlowSummary: Sendable {
        public var flow: ProtectionFlowRecord
        public var targetName: String?
        public var vmCount: Int
        public var lastExecution: FlowExecutionRecord?
    }

    /// Every flow with its target's name, VM count and last run: four queries
    /// whatever the number of flows (three per flow took 30 ms for a hundred).
    public func protectionFlowSummaries() async throws -> [FlowSummary] {
        try await pool.read { db in try Self.summaries(of: ProtectionFlowRecord.order(Column("name")).fetchAll(db), db) }
    }

    public func protectionFlowSummary(_ flow: ProtectionFlowRecord) async throws -> FlowSummary {
        try await pool.read { db in try Self.summaries(of: [flow], db)[0] }
    }

    /// The flows' targets, counts and last runs in three queries; the flows' ids
    /// and VM targets go to SQLite as one JSON array each (no limit on their number).
    static func summaries(of flows: [ProtectionFlowRecord], _ db: Database) throws -> [FlowSummary] {
        func jsonArray(_ values: [some Encodable]) throws -> String { String(decoding: try JSONEncoder().encode(values), as: UTF8.self) }
        var groups: [String: (name: String, members: Int)] = [:]
        for row in try Row.fetchAll(db, sql: """
            SELECT g.id, g.name, (SELECT COUNT(*) FROM protection_group_members m JOIN vm_contexts c ON c.context_id = m.context_id
                                  WHERE m.group_id = g.id) AS members
            FROM protection_groups g
            """) {
            groups[String(row["id"] as Int64)] = (row["name"], row["members"])
        }
        let vms = Set(try String.fetchAll(db, sql: "SELECT vm_name FROM vm_contexts WHERE vm_name IN (SELECT value FROM json_each(?))",
                                          arguments: [jsonArray(flows.filter { $0.targetType == "vm" }.map(\.targetId))]))
        // Each flow's newest run (newest start, then highest id), by the flow_executions_flow index.
        let runs = try FlowExecutionRecord.fetchAll(db, sql: """
            SELECT e.* FROM json_each(?) f JOIN flow_executions e ON e.id = (
                SELECT id FROM flow_executions WHERE flow_id = f.value ORDER BY started_at DESC, id DESC LIMIT 1)
            """, arguments: [jsonArray(flows.compactMap(\.id))])
        let lastRun = Dictionary(runs.map { ($0.flowId, $0) }, uniquingKeysWith: { first, _ in first })
        return flows.map { flow in
            let group = flow.targetType == "group" ? groups[flow.targetId] : nil
            let count = flow.targetType == "group" ? group?.members ?? 0 : (vms.contains(flow.targetId) ? 1 : 0)
            return FlowSummary(flow: flow, targetName: group?.name ?? flow.targetId, vmCount: count, lastExecution: flow.id.flatMap { lastRun[$0] })
        }
    }

    public func protectionFlow(id: Int64) async throws -> ProtectionFlowRecord? {
        try await pool.read { db in try ProtectionFlowRecord.fetchOne(db, key: id) }
    }

    public func saveProtectionFlow(_ flow: ProtectionFlowRecord) async throws -> ProtectionFlowRecord {
        try await pool.write { db in
            var flow = flow
            try mapUniqueViolation("a protection flow named \(flow.name) already exists") {
                if flow.id == nil { try flow.insert(db) } else { try mapMissingRow("protection flow not found: id=\(flow.id ?? 0)") { try flow.update(db) } }
            }
            return flow
        }
    }

    public func deleteProtectionFlow(id: Int64) async throws -> Bool {
        try await pool.write { db in try ProtectionFlowRecord.deleteOne(db, key: id) }
    }

    /// Enabled flows whose next run is due at `now`.
    public func dueFlows(at now: Date) async throws -> [ProtectionFlowRecord] {
        try await pool.read { db in
            try ProtectionFlowRecord.filter(Column("enabled") == true && Column("next_run_at") <= now).order(Column("next_run_at")).fetchAll(db)
        }
    }

    public func setFlowRuns(_ id: Int64, next: Date?, last: Date?) async throws {
        try await pool.write { db in
            if let last {
                try db.execute(sql: "UPDATE protection_flows SET next_run_at = ?, last_run_at = ? WHERE id = ?", arguments: [next, last, id])
            } else {
                try db.execute(sql: "UPDATE protection_flows SET next_run_at = ? WHERE id = ?", arguments: [next, id])
            }
        }
    }

    /// The VM names a flow covers now (a group's current members).
    public func vmNames(coveredBy flow: ProtectionFlowRecord) async throws -> [String] {
        try await pool.read { db in try Self.vmNames(coveredBy: flow, db) }
    }

    static func vmNames(coveredBy flow: ProtectionFlowRecord, _ db: Database) throws -> [String] {
        if flow.targetType == "vm" {
            return try VMContextRecord.filter(Column("vm_name") == flow.targetId).fetchOne(db).map { [$0.vmName] } ?? []
        }
        return try memberNames(of: Int64(flow.targetId) ?? -1, db)
    }

    /// A VM a flow covers, with its newest backup and its restore points in the flow's repository.
    public struct FlowMachine: Sendable {
        public var vmName: String
        public var vm: VMContextRecord?
        public var lastBackup: BackupJobRecord?
        public var restorePoints: Int
    }

    /// The VMs a flow covers, in one read (a group of a hundred VMs once cost three reads each).
    public func flowMachines(_ flow: ProtectionFlowRecord) async throws -> [FlowMachine] {
        try await pool.read { db in
            try Self.vmNames(coveredBy: flow, db).map { name in
                let backups = BackupJobRecord.filter(Column("vm_name") == name && Column("repository_id") == flow.repositoryId)
                return FlowMachine(
                    vmName: name, vm: try VMContextRecord.filter(Column("vm_name") == name).fetchOne(db),
                    lastBackup: try backups.order(Column("created_at").desc, Column("backup_id").desc).fetchOne(db),
                    restorePoints: try backups.filter(Column("status") == BackupStatus.completed).fetchCount(db))
            }
        }
    }

    // MARK: executions

    public func startExecution(flowID: Int64, trigger: String, vmNames: [String], now: Date) async throws -> FlowExecutionRecord {
        try await pool.write { db in
            var execution = FlowExecutionRecord(flowId: flowID, trigger: trigger, now: now)
            try execution.insert(db)
            for name in vmNames {
                var row = FlowExecutionVMRecord(executionId: execution.id ?? 0, vmName: name, status: .queued)
                try row.insert(db)
            }
            return execution
        }
    }

    public func updateExecutionVM(_ row: FlowExecutionVMRecord) async throws {
        try await pool.write { db in try row.update(db) }
    }

    /// Ends an execution; its status follows from its VMs.
    public func finishExecution(_ id: Int64, now: Date) async throws -> FlowExecutionRecord? {
        try await pool.write { db in
            guard var execution = try FlowExecutionRecord.fetchOne(db, key: id) else { return nil }
            let statuses = try FlowExecutionVMRecord.filter(Column("execution_id") == id).fetchAll(db).map(\.status)
            execution.status = if statuses.isEmpty {
                .skipped
            } else if statuses.allSatisfy({ $0 == .completed }) {
                .completed
            } else if statuses.contains(.completed) {
                .partial
            } else if statuses.allSatisfy({ $0 == .skipped }) {
                .skipped
            } else {
                .failed
            }
            execution.completedAt = now
            try execution.update(db)
            return execution
        }
    }

    public func executions(flowID: Int64, limit: Int = 50) async throws -> [(FlowExecutionRecord, [FlowExecutionVMRecord])] {
        try await pool.read { db in
            try FlowExecutionRecord.filter(Column("flow_id") == flowID).order(Column("started_at").desc, Column("id").desc).limit(limit)
                .fetchAll(db).map { ($0, try FlowExecutionVMRecord.filter(Column("execution_id") == $0.id).order(Column("vm_name")).fetchAll(db)) }
        }
    }

    /// Executions a stopped hub left running: failed, with the reason.
    public func failRunningExecutions(reason: String, now: Date) async throws -> Int {
        try await pool.write { db in
            try db.execute(sql: "UPDATE flow_execution_vms SET status = 'failed', error_message = ? WHERE status IN ('queued', 'running')", arguments: [reason])
            try db.execute(sql: "UPDATE flow_executions SET status = 'failed', error_message = ?, completed_at = ? WHERE status = 'running'",
                           arguments: [reason, now])
            return db.changesCount
        }
    }
}
