import Catalog
import Engine
import Foundation
import HTTPTypes
import Hummingbird
import SendenseAPI
import SendenseCore

extension ProtectionFlowResponse {
    init(_ summary: CatalogDatabase.FlowSummary) {
        self.init(flow: summary.flow, targetName: summary.targetName, vmCount: summary.vmCount, lastExecution: summary.lastExecution)
    }

    init(flow: ProtectionFlowRecord, targetName: String?, vmCount: Int, lastExecution: FlowExecutionRecord?) {
        self.init(id: flow.id ?? 0, name: flow.name, targetType: flow.targetType, targetId: flow.targetId, targetName: targetName,
                  repositoryId: String(flow.repositoryId), schedule: flow.schedule, timeZone: flow.timeZone, backupType: flow.backupType,
                  fullEvery: flow.fullWeekly ? .weekly : flow.fullEvery.map(FullEvery.runs), retention: flow.retention,
                  enabled: flow.enabled, bootCheck: flow.bootCheck, nextRunAt: flow.nextRunAt, lastRunAt: flow.lastRunAt, lastExecutionStatus: lastExecution?.status,
                  vmCount: vmCount, createdAt: flow.createdAt, updatedAt: flow.updatedAt)
    }
}

extension FlowExecutionResponse {
    init(execution: FlowExecutionRecord, vms: [FlowExecutionVMRecord]) {
        self.init(id: execution.id ?? 0, flowId: execution.flowId, status: execution.status, trigger: execution.trigger,
                  errorMessage: execution.errorMessage, startedAt: execution.startedAt, completedAt: execution.completedAt,
                  vms: vms.map { VM(vmName: $0.vmName, backupId: $0.backupId, status: $0.status, errorMessage: $0.errorMessage) })
    }
}

extension PruneResult {
    init(report: PruneReport) {
        self.init(vmName: report.vmName, kept: report.kept, removed: report.removed, merged: report.merged,
                  immutableUntil: report.immutableUntil.mapValues { $0.formatted(.iso8601) }, skipped: report.skipped)
    }
}

/// `/protection-flows`: what is backed up when, where, and kept how long.
enum ProtectionFlowRoutes {
    static func register(_ table: RouteTable, _ services: HubServices) {
        let catalog = services.catalog
        // Kept until a flow (or a group, a VM, a run) changes: dashboards ask for it again and again.
        let everyFlow = KeptResponses<NoParameters>(changes: catalog.flowChanges)
        table.add(.get, "/protection-flows", .role(.viewer)) { _, _ -> Response in
            try await everyFlow.response {
                let list = try await catalog.protectionFlowSummaries().map(ProtectionFlowResponse.init)
                return ProtectionFlowListResponse(flows: list, count: list.count)
            }
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
            let saved = try await ProtectionFlows.save(flow, catalog: catalog)
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
            return try await response(try await ProtectionFlows.save(flow, catalog: catalog), catalog)
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
            return EditedResponse(status: .accepted, response: FlowExecutionResponse(execution: execution, vms: rows))
        }
        table.add(.get, "/protection-flows/{id}/executions", .role(.viewer)) { request, context -> FlowExecutionListResponse in
            let flow = try await existing(context, catalog)
            let limit = try QueryNumber.parse(request.uri.queryParameters["limit"], "limit", default: 50, in: 1...1000)
            let list = try await catalog.executions(flowID: flow.id ?? 0, limit: limit)
                .map { FlowExecutionResponse(execution: $0.0, vms: $0.1) }
            return FlowExecutionListResponse(executions: list, count: list.count)
        }
        registerPrune(table, services)
        table.add(.get, "/protection-flows/{id}/machines", .role(.viewer)) { _, context -> FlowMachineListResponse in
            let flow = try await existing(context, catalog)
            let machines = try await catalog.flowMachines(flow).map { machine in
                let last = machine.lastBackup
                return FlowMachineResponse(
                    vmName: machine.vmName, powerState: machine.vm?.powerState, lastBackupId: last?.backupId,
                    lastBackupAt: last?.completedAt ?? last?.createdAt, lastBackupStatus: last?.status, lastBackupType: last?.backupType,
                    restorePoints: machine.restorePoints, nextRunAt: flow.enabled ? flow.nextRunAt : nil)
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
            var results: [PruneResult] = []
            for name in try await services.catalog.vmNames(coveredBy: flow) {
                let report = try await RetentionRun.prune(vmName: name, repositoryID: flow.repositoryId, policy: policy, timeZone: zone,
                                                          dryRun: dryRun, pruner: services.pruner, jobs: services.jobs, logger: services.logger)
                results.append(PruneResult(report: report))
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
            let rule: ProtectionFlows.FullRule = switch body.fullEvery {
            case .runs(let runs)?: .everyRuns(runs)
            case .weekly?: .weekly
            case nil: .whenNeeded
            }
            try ProtectionFlows.apply(rule, to: &flow)
        }
        if let retention = body.retention { try ProtectionFlows.apply(retention, to: &flow) }
        if let bootCheck = body.bootCheck { flow.bootCheck = bootCheck }
    }

    static func backupType(_ text: String?) throws -> BackupType? {
        guard let text else { return nil }
        guard let type = BackupType(rawValue: text) else { throw APIError.badRequest("backup_type must be full or incremental") }
        return type
    }

    static func response(_ flow: ProtectionFlowRecord, _ catalog: CatalogDatabase) async throws -> ProtectionFlowResponse {
        ProtectionFlowResponse(try await catalog.protectionFlowSummary(flow))
    }
}
