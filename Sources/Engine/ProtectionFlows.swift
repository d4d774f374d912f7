import Catalog
import Foundation
import SendenseCore

/// The rules a protection flow must keep before it is stored: a valid name,
/// a target that exists (a VM, or a group), a schedule that parses, an
/// existing repository, a sane full-backup rule and retention. Its next run
/// follows from its schedule.
public enum ProtectionFlows {
    /// How often a flow makes a full backup of a VM.
    public enum FullRule: Sendable, Equatable {
        /// Only when needed (the first backup, a lost checkpoint).
        case whenNeeded
        case everyRuns(Int)
        case weekly
    }

    /// Sets the flow's full-backup rule, checked.
    public static func apply(_ rule: FullRule, to flow: inout ProtectionFlowRecord) throws {
        switch rule {
        case .everyRuns(let runs):
            guard (1...1000).contains(runs) else { throw FlowError.invalid("full_every must be 1 to 1000 backups, or \"weekly\"") }
            flow.fullEvery = runs
            flow.fullWeekly = false
        case .weekly:
            flow.fullEvery = nil
            flow.fullWeekly = true
        case .whenNeeded:
            flow.fullEvery = nil
            flow.fullWeekly = false
        }
    }

    /// Sets the flow's retention, checked.
    public static func apply(_ retention: RetentionPolicy, to flow: inout ProtectionFlowRecord) throws {
        if let problem = retention.problem { throw FlowError.invalid(problem) }
        flow.retention = retention
    }

    /// Checks the whole flow, sets its next run from its (possibly new) schedule, and stores it.
    public static func save(_ flow: ProtectionFlowRecord, catalog: CatalogDatabase, now: Date = Date()) async throws -> ProtectionFlowRecord {
        var flow = flow
        if let problem = NameRules.problem(with: flow.name, field: "name") { throw FlowError.invalid(problem) }
        guard ["vm", "group"].contains(flow.targetType) else { throw FlowError.invalid("target_type must be vm or group") }
        let schedule = try Schedule(flow.schedule, timeZone: flow.timeZone)
        if flow.targetType == "vm" {
            guard try await catalog.vmContext(named: flow.targetId) != nil else {
                throw FlowError.unknownReference("VM not found: vm_name=\(flow.targetId)")
            }
        } else {
            guard let id = Int64(flow.targetId), try await catalog.protectionGroup(id: id) != nil else {
                throw FlowError.unknownReference("protection group not found: id=\(flow.targetId)")
            }
        }
        guard try await catalog.repository(id: flow.repositoryId) != nil else {
            throw FlowError.unknownReference("repository not found: id=\(flow.repositoryId)")
        }
        flow.nextRunAt = flow.enabled ? schedule.next(after: now) : nil
        return try await catalog.saveProtectionFlow(flow)
    }
}

/// Why a flow cannot be stored as described.
public enum FlowError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(String)
    /// The flow names a VM, group or repository that does not exist: the
    /// request's fault (422), not a missing flow (404).
    case unknownReference(String)

    public var description: String {
        switch self {
        case .invalid(let message), .unknownReference(let message): message
        }
    }
}
