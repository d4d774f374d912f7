import Catalog
import Foundation
import HTTPTypes
import Hummingbird
import SendenseAPI
import SendenseCore

extension ProtectionGroupResponse {
    init(_ record: ProtectionGroupRecord, members: [String]) {
        self.init(id: record.id ?? 0, name: record.name, description: record.description, vmNames: members,
                  createdAt: record.createdAt, updatedAt: record.updatedAt)
    }
}

/// `/protection-groups`: named sets of VMs for flows to target.
enum ProtectionGroupRoutes {
    static func register(_ table: RouteTable, _ services: HubServices) {
        let catalog = services.catalog
        table.add(.get, "/protection-groups", .role(.viewer)) { _, _ -> ProtectionGroupListResponse in
            let groups = try await catalog.protectionGroups().map { ProtectionGroupResponse($0.0, members: $0.1) }
            return ProtectionGroupListResponse(groups: groups, count: groups.count)
        }
        table.add(.get, "/protection-groups/{id}", .role(.viewer)) { _, context -> ProtectionGroupResponse in
            let (group, members) = try await existing(context, catalog)
            return ProtectionGroupResponse(group, members: members)
        }
        table.add(.post, "/protection-groups", .role(.operator)) { request, _ -> EditedResponse<ProtectionGroupResponse> in
            let body = try await request.decodeJSON(ProtectionGroupRequest.self, limit: services.maxBody)
            guard let name = body.name else { throw APIError.badRequest("name is required") }
            let group = try await save(ProtectionGroupRecord(name: name, description: body.description), vmNames: body.vmNames ?? [], catalog)
            return EditedResponse(status: .created, response: group)
        }
        table.add(.put, "/protection-groups/{id}", .role(.operator)) { request, context -> ProtectionGroupResponse in
            var (group, members) = try await existing(context, catalog)
            let body = try await request.decodeJSON(ProtectionGroupRequest.self, limit: services.maxBody)
            if let name = body.name { group.name = name }
            if let description = body.description { group.description = description }
            group.updatedAt = Date()
            return try await save(group, vmNames: body.vmNames ?? members, catalog)
        }
        table.add(.delete, "/protection-groups/{id}", .role(.operator)) { _, context -> HTTPResponse.Status in
            let (group, _) = try await existing(context, catalog)
            _ = try await catalog.deleteProtectionGroup(id: group.id ?? 0)
            return .noContent
        }
    }

    static func existing(_ context: HubContext, _ catalog: CatalogDatabase) async throws -> (ProtectionGroupRecord, [String]) {
        let id = try context.parameters.requireID("id")
        guard let found = try await catalog.protectionGroup(id: id) else { throw APIError.notFound("protection group not found: id=\(id)") }
        return found
    }

    static func save(_ group: ProtectionGroupRecord, vmNames: [String], _ catalog: CatalogDatabase) async throws -> ProtectionGroupResponse {
        if let problem = NameRules.problem(with: group.name, field: "name") { throw APIError.badRequest(problem) }
        if let description = group.description, description.unicodeScalars.count > 1000 { throw APIError.badRequest("description must be at most 1000 characters") }
        guard vmNames.count <= 10_000 else { throw APIError.badRequest("vm_names must list at most 10000 VMs") }
        let saved = try await catalog.saveProtectionGroup(group, vmNames: vmNames)
        return ProtectionGroupResponse(saved, members: Array(Set(vmNames)).sorted())
    }
}
