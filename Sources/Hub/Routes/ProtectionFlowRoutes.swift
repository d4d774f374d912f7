import Catalog
import Engine
import Foundation
import HTTPTypes
import Hummingbird
import SendenseCore

/// A flow as a client sends it; on PUT every field is optional.
struct ProtectionFlowRequest: Decodable {
    var name: String?
    var targetType: String?
    var targetId: String?
    var repositoryId: Int64?
    var schedule: String?
    var timeZone: String?
    var backupType: String?
    /// A number of backups, or "weekly"; null clears it.
    var fullEvery: FullEvery?
    var fullEveryGiven = false
    var retention: RetentionPolicy?
    var enabled: Bool?

    enum FullEvery: Equatable {
        case runs(Int)
        case weekly
    }

    enum CodingKeys: String, CodingKey {
        case name, schedule, retention, enabled
        case targetType = "target_type", targetId = "target_id", repositoryId = "repository_id", timeZone = "time_zone"
        case backupType = "backup_type", fullEvery = "full_every"
    }

    init(from decoder: any Decoder) throws {
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
        if fullEveryGiven, try !c.decodeNil(forKey: .fullEvery) {
            if let runs = try? c.decode(Int.self, forKey: .fullEvery) {
                fullEvery = .runs(runs)
            } else {
                guard try c.decode(String.self, forKey: .fullEvery) == "weekly" else {
                    throw DecodingError.dataCorruptedError(forKey: .fullEvery, in: c, debugDescription: "expected a number of backups or \"weekly\"")
                }
                fullEvery = .weekly
            }
        }
        retention = try c.decodeIfPresent(RetentionPolicy.self, forKey: .retention)
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled)
    }
}

struct ProtectionFlowResponse: ResponseEncodable {
    var flow: ProtectionFlowRecord
    var targetName: String?
    var vmCount: Int
    var lastExecution: FlowExecutionRecord?

    enum CodingKeys: String, CodingKey {
        case id, name, schedule, retention, enabled
        case targetType = "target_type", targetId = "target_id", targetName = "target_name", repositoryId = "repository_id"
        case timeZone = "time_zone", backupType = "backup_type", fullEvery = "full_every", nextRunAt = "next_run_at"
        case lastRunAt = "last_run_at", lastExecutionStatus = "last_execution_status", vmCount = "vm_count"
        case createdAt = "created_at", updatedAt = "updated_at"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(flow.id ?? 0, forKey: .id)
        try c.encode(flow.name, forKey: .name)
        try c.encode(flow.targetType, forKey: .targetType)
        try c.encode(flow.targetId, forKey: .targetId)
        try c.encode(targetName, forKey: .targetName)
        try c.encode(String(flow.repositoryId), forKey: .repositoryId)
        try c.encode(flow.schedule, forKey: .schedule)
        try c.encode(flow.timeZone, forKey: .timeZone)
        try c.encode(flow.backupType, forKey: .backupType)
        if flow.fullWeekly {
            try c.encode("weekly", forKey: .fullEvery)
        } else {
            try c.encode(flow.fullEvery, forKey: .fullEvery)
        }
        try c.encode(flow.retention, forKey: .retention)
        try c.encode(flow.enabled, forKey: .enabled)
        try c.encode(flow.nextRunAt, forKey: .nextRunAt)
        try c.encode(flow.lastRunAt, forKey: .lastRunAt)
        try c.encode(lastExecution?.status, forKey: .lastExecutionStatus)
        try c.encode(vmCount, forKey: .vmCount)
        try c.encode(flow.createdAt, forKey: .createdAt)
        try c.encode(flow.updatedAt, forKey: .updatedAt)
    }
}

struct ProtectionFlowListResponse: ResponseEncodable {
    var flows: [ProtectionFlowResponse]
    var count: Int
}

struct FlowExecutionResponse: ResponseEncodable {
    struct VM: Encodable {
        var row: FlowExecutionVMRecord
        enum CodingKeys: String, CodingKey { case vmName = "vm_name", backupId = "backup_id", status, errorMessage = "error_message" }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(row.vmName, forKey: .vmName)
            try c.encode(row.backupId, forKey: .backupId)
            try c.encode(row.status, forKey: .status)
            try c.encode(row.errorMessage, forKey: .errorMessage)
        }
    }

    var execution: FlowExecutionRecord
    var vms: [VM]

    enum CodingKeys: String, CodingKey {
        case id, status, trigger, vms, flowId = "flow_id", errorMessage = "error_message", startedAt = "started_at", completedAt = "completed_at"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(execution.id ?? 0, forKey: .id)
        try c.encode(execution.flowId, forKey: .flowId)
        try c.encode(execution.status, forKey: .status)
        try c.encode(execution.trigger, forKey: .trigger)
        try c.encode(execution.errorMessage, forKey: .errorMessage)
        try c.encode(execution.startedAt, forKey: .startedAt)
        try c.encode(execution.completedAt, forKey: .completedAt)
        try c.encode(vms, forKey: .vms)
    }
}

struct FlowExecutionListResponse: ResponseEncodable {
    var executions: [FlowExecutionResponse]
    var count: Int
}

struct FlowMachineResponse: Encodable {
    var vmName: String
    var powerState: String?
    var lastBackupId: String?
    var lastBackupAt: Date?
    var lastBackupStatus: BackupStatus?
    var lastBackupType: BackupType?
    var restorePoints: Int
    var nextRunAt: Date?

    enum CodingKeys: String, CodingKey {
        case vmName = "vm_name", powerState = "power_state", lastBackupId = "last_backup_id", lastBackupAt = "last_backup_at"
        case lastBackupStatus = "last_backup_status", lastBackupType = "last_backup_type", restorePoints = "restore_points", nextRunAt = "next_run_at"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(vmName, forKey: .vmName)
        try c.encode(powerState, forKey: .powerState)
        try c.encode(lastBackupId, forKey: .lastBackupId)
        try c.encode(lastBackupAt, forKey: .lastBackupAt)
        try c.encode(lastBackupStatus, forKey: .lastBackupStatus)
        try c.encode(lastBackupType, forKey: .lastBackupType)
        try c.encode(restorePoints, forKey: .restorePoints)
        try c.encode(nextRunAt, forKey: .nextRunAt)
    }
}

struct PruneRequest: Decodable {
    var dryRun: Bool?
    enum CodingKeys: String, CodingKey { case dryRun = "dry_run" }
}

struct PruneResultResponse: Encodable {
    var report: PruneReport

    enum CodingKeys: String, CodingKey {
        case vmName = "vm_name", kept, removed, merged, immutableUntil = "immutable_until", skipped
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(report.vmName, forKey: .vmName)
        try c.encode(report.kept, forKey: .kept)
        try c.encode(report.removed, forKey: .removed)
        try c.encode(report.merged, forKey: .merged)
        try c.encode(report.immutableUntil.mapValues { $0.formatted(.iso8601) }, forKey: .immutableUntil)
        try c.encode(report.skipped, forKey: .skipped)
    }
}

struct PruneResponse: ResponseEncodable {
    var dryRun: Bool
    var results: [PruneResultResponse]
}

struct FlowMachineListResponse: ResponseEncodable {
    var machines: [FlowMachineResponse]
    var count: Int
}

/// `/protection-flows`: what is backed up when, where, and kept how long.
enum ProtectionFlowRoutes {
    static func register(_ table: RouteTable, _ services: HubServices) {
        let catalog = services.catalog
        table.add(.get, "/protection-flows", .role(.viewer)) { _, _ -> ProtectionFlowListResponse in
            var list: [ProtectionFlowResponse] = []
            for flow in try await catalog.protectionFlows() { list.append(try await response(flow, catalog)) }
            return ProtectionFlowListResponse(flows: list, count: list.count)
        }
        table.add(.get, "/protection-flows/{id}", .role(.viewer)) { _, context -> ProtectionFlowResponse in
            try await response(try await existing(context, catalog), catalog)
        }
        table.add(.post, "/protection-flows", .role(.operator)) { request, _ -> EditedResponse<ProtectionFlowResponse> in
            let body = try await request.decodeJSON(ProtectionFlowRequest.self, limit: services.maxBody)
            guard let name = body.name, let targetType = body.targetType, let targetId = body.targetId,
                  let repositoryId = body.repositoryId, let schedule = body.schedule else {
                throw APIError.badRequest("name, target_type, target_id, repository_id and schedule are required")
            }
            var flow = ProtectionFlowRecord(
                name: name, targetType: targetType, targetId: targetId, repositoryId: repositoryId, schedule: schedule,
                timeZone: body.timeZone ?? "UTC", backupType: try backupType(body.backupType) ?? .incremental, fullEvery: nil, fullWeekly: false,
                enabled: body.enabled ?? true)
            try apply(body, to: &flow)
            let saved = try await save(flow, services)
            return EditedResponse(status: .created, response: try await response(saved, catalog))
        }
        table.add(.put, "/protection-flows/{id}", .role(.operator)) { request, context -> ProtectionFlowResponse in
            var flow = try await existing(context, catalog)
            let body = try await request.decodeJSON(ProtectionFlowRequest.self, limit: services.maxBody)
            if let name = body.name { flow.name = name }
            if let targetType = body.targetType { flow.targetType = targetType }
            if let targetId = body.targetId { flow.targetId = targetId }
            if let repositoryId = body.repositoryId { flow.repositoryId = repositoryId }
            if let schedule = body.schedule { flow.schedule = schedule }
            if let timeZone = body.timeZone { flow.timeZone = timeZone }
            if let backupType = try backupType(body.backupType) { flow.backupType = backupType }
            if let enabled = body.enabled { flow.enabled = enabled }
            try apply(body, to: &flow)
            flow.updatedAt = Date()
            return try await response(try await save(flow, services), catalog)
        }
        table.add(.delete, "/protection-flows/{id}", .role(.operator)) { _, context -> HTTPResponse.Status in
            let flow = try await existing(context, catalog)
            _ = try await catalog.deleteProtectionFlow(id: flow.id ?? 0)
            return .noContent
        }
        table.add(.post, "/protection-flows/{id}/execute", .role(.operator)) { _, context -> EditedResponse<FlowExecutionResponse> in
            let flow = try await existing(context, catalog)
            let execution = try await services.scheduler.execute(flow)
            let rows = try await catalog.executions(flowID: flow.id ?? 0).first { $0.0.id == execution.id }?.1 ?? []
            return EditedResponse(status: .accepted, response: FlowExecutionResponse(execution: execution, vms: rows.map(FlowExecutionResponse.VM.init)))
        }
        table.add(.get, "/protection-flows/{id}/executions", .role(.viewer)) { request, context -> FlowExecutionListResponse in
            let flow = try await existing(context, catalog)
            let limit = try QueryNumber.parse(request.uri.queryParameters["limit"], "limit", default: 50, in: 1...1000)
            let list = try await catalog.executions(flowID: flow.id ?? 0, limit: limit)
                .map { FlowExecutionResponse(execution: $0.0, vms: $0.1.map(FlowExecutionResponse.VM.init)) }
            return FlowExecutionListResponse(executions: list, count: list.count)
        }
        registerPrune(table, services)
        table.add(.get, "/protection-flows/{id}/machines", .role(.viewer)) { _, context -> FlowMachineListResponse in
            let flow = try await existing(context, catalog)
            var machines: [FlowMachineResponse] = []
            for name in try await catalog.vmNames(coveredBy: flow) {
                let vm = try await catalog.vmContext(named: name)
                let last = try await catalog.backups(BackupListFilter(vmName: name, repositoryId: flow.repositoryId, limit: 1)).records.first
                let points = try await catalog.chain(vmName: name, repositoryID: flow.repositoryId).count
                machines.append(FlowMachineResponse(
                    vmName: name, powerState: vm?.powerState, lastBackupId: last?.backupId, lastBackupAt: last?.completedAt ?? last?.createdAt,
                    lastBackupStatus: last?.status, lastBackupType: last?.backupType, restorePoints: points,
                    nextRunAt: flow.enabled ? flow.nextRunAt : nil))
            }
            return FlowMachineListResponse(machines: machines, count: machines.count)
        }
    }

    /// Applies the flow's retention to each of its VMs now (or says what it would do).
    static func registerPrune(_ table: RouteTable, _ services: HubServices) {
        table.add(.post, "/protection-flows/{id}/prune", .role(.operator)) { request, context -> PruneResponse in
            let flow = try await existing(context, services.catalog)
            let body = try await request.decodeJSON(PruneRequest.self, limit: services.maxBody, allowEmpty: true)
            let dryRun = body?.dryRun ?? false
            let policy = flow.retention
            let zone = TimeZone(identifier: flow.timeZone) ?? .gmt
            var results: [PruneResultResponse] = []
            for name in try await services.catalog.vmNames(coveredBy: flow) {
                let report = try await RetentionRun.prune(vmName: name, repositoryID: flow.repositoryId, policy: policy, timeZone: zone,
                                                          dryRun: dryRun, pruner: services.pruner, jobs: services.jobs, logger: services.logger)
                results.append(PruneResultResponse(report: report))
            }
            return PruneResponse(dryRun: dryRun, results: results)
        }
    }

    static func existing(_ context: HubContext, _ catalog: CatalogDatabase) async throws -> ProtectionFlowRecord {
        let id = try context.parameters.requireID("id")
        guard let flow = try await catalog.protectionFlow(id: id) else { throw APIError.notFound("protection flow not found: id=\(id)") }
        return flow
    }

    static func apply(_ body: ProtectionFlowRequest, to flow: inout ProtectionFlowRecord) throws {
        if body.fullEveryGiven {
            switch body.fullEvery {
            case .runs(let runs)?:
                guard (1...1000).contains(runs) else { throw APIError.badRequest("full_every must be 1 to 1000 backups, or \"weekly\"") }
                flow.fullEvery = runs
                flow.fullWeekly = false
            case .weekly?:
                flow.fullEvery = nil
                flow.fullWeekly = true
            case nil:
                flow.fullEvery = nil
                flow.fullWeekly = false
            }
        }
        if let retention = body.retention {
            if let problem = retention.problem { throw APIError.badRequest(problem) }
            flow.retention = retention
        }
    }

    static func backupType(_ text: String?) throws -> BackupType? {
        guard let text else { return nil }
        guard let type = BackupType(rawValue: text) else { throw APIError.badRequest("backup_type must be full or incremental") }
        return type
    }

    /// Checks the whole flow, sets its next run from its (possibly new) schedule, and stores it.
    static func save(_ flow: ProtectionFlowRecord, _ services: HubServices) async throws -> ProtectionFlowRecord {
        var flow = flow
        if let problem = NameRules.problem(with: flow.name, field: "name") { throw APIError.badRequest(problem) }
        guard ["vm", "group"].contains(flow.targetType) else { throw APIError.badRequest("target_type must be vm or group") }
        let schedule = try Schedule(flow.schedule, timeZone: flow.timeZone)
        if flow.targetType == "vm" {
            guard try await services.catalog.vmContext(named: flow.targetId) != nil else { throw APIError.notFound("VM not found: vm_name=\(flow.targetId)") }
        } else {
            guard let id = Int64(flow.targetId), try await services.catalog.protectionGroup(id: id) != nil else {
                throw APIError.notFound("protection group not found: id=\(flow.targetId)")
            }
        }
        guard try await services.catalog.repository(id: flow.repositoryId) != nil else {
            throw APIError.notFound("repository not found: id=\(flow.repositoryId)")
        }
        flow.nextRunAt = flow.enabled ? schedule.next(after: Date()) : nil
        return try await services.catalog.saveProtectionFlow(flow)
    }

    static func response(_ flow: ProtectionFlowRecord, _ catalog: CatalogDatabase) async throws -> ProtectionFlowResponse {
        let targetName: String? = if flow.targetType == "group", let id = Int64(flow.targetId) {
            try await catalog.protectionGroup(id: id)?.0.name
        } else {
            flow.targetId
        }
        return ProtectionFlowResponse(
            flow: flow, targetName: targetName, vmCount: try await catalog.vmNames(coveredBy: flow).count,
            lastExecution: try await catalog.executions(flowID: flow.id ?? 0, limit: 1).first?.0)
    }
}
