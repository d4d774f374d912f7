import Catalog
import Engine
import Foundation
import HTTPTypes
import Hummingbird
import SendenseAPI
import SendenseCore

extension VMwareCredentialResponse {
    init(_ record: VMwareCredentialRecord, vmCount: Int) {
        self.init(id: record.id ?? 0, name: record.name, vcenterHost: record.vcenterHost, vcenterPort: record.vcenterPort,
                  username: record.username, datacenter: record.datacenter, thumbprint: record.thumbprint, insecure: record.insecure,
                  transport: record.transport, vmCount: vmCount, createdAt: record.createdAt, updatedAt: record.updatedAt)
    }
}

/// `/vmware-credentials`: the vCenters the hub backs up from. Admins manage
/// them; operators test them (and discover with them); everyone signed in
/// may list them.
enum VMwareCredentialRoutes {
    static func register(_ table: RouteTable, _ services: HubServices) {
        let catalog = services.catalog
        table.add(.get, "/vmware-credentials", .role(.viewer)) { _, _ -> VMwareCredentialListResponse in
            let contexts = try await catalog.vmContexts()
            let list = try await catalog.vmwareCredentials().map { record in
                VMwareCredentialResponse(record, vmCount: contexts.count { $0.credentialId == record.id })
            }
            return VMwareCredentialListResponse(credentials: list, count: list.count)
        }
        table.add(.get, "/vmware-credentials/{id}", .role(.viewer)) { _, context -> VMwareCredentialResponse in
            let record = try await existing(context, services)
            return VMwareCredentialResponse(record, vmCount: try await catalog.vmContexts(credentialID: record.id ?? 0).count)
        }
        table.add(.post, "/vmware-credentials", .role(.admin)) { request, _ -> EditedResponse<VMwareCredentialResponse> in
            let body = try await request.decodeJSON(VMwareCredentialRequest.self, limit: services.maxBody)
            guard let name = body.name, let host = body.vcenterHost, let username = body.username, let password = body.password else {
                throw APIError.badRequest("name, vcenter_host, username and password are required")
            }
            try checkPassword(password)
            var record = VMwareCredentialRecord(
                name: name, vcenterHost: host, vcenterPort: body.vcenterPort ?? 443, username: username,
                passwordEncrypted: try services.secrets.seal(password), datacenter: body.datacenter?.nilIfBlank,
                thumbprint: body.thumbprint?.nilIfBlank, insecure: body.insecure ?? false, transport: body.transport ?? "https")
            record = try await catalog.insertVMwareCredential(try VMwareCredentials.validated(record))
            return EditedResponse(status: .created, response: VMwareCredentialResponse(record, vmCount: 0))
        }
        table.add(.put, "/vmware-credentials/{id}", .role(.admin)) { request, context -> VMwareCredentialResponse in
            var record = try await existing(context, services)
            let body = try await request.decodeJSON(VMwareCredentialRequest.self, limit: services.maxBody)
            if let name = body.name { record.name = name }
            if let host = body.vcenterHost { record.vcenterHost = host }
            if let port = body.vcenterPort { record.vcenterPort = port }
            if let username = body.username { record.username = username }
            if let password = body.password {
                try checkPassword(password)
                record.passwordEncrypted = try services.secrets.seal(password)
            }
            if let datacenter = body.datacenter { record.datacenter = datacenter.nilIfBlank }
            // The trust asked for now replaces the stored one: a new pin ends `insecure`, and
            // `insecure: true` drops the pin (both in one request is still refused).
            if let thumbprint = body.thumbprint {
                record.thumbprint = thumbprint.nilIfBlank
                if record.thumbprint != nil, body.insecure == nil { record.insecure = false }
            }
            if let insecure = body.insecure {
                record.insecure = insecure
                if insecure, body.thumbprint == nil { record.thumbprint = nil }
            }
            if let transport = body.transport { record.transport = transport }
            record = try VMwareCredentials.validated(record)
            record.updatedAt = Date()
            try await catalog.updateVMwareCredential(record)
            return VMwareCredentialResponse(record, vmCount: try await catalog.vmContexts(credentialID: record.id ?? 0).count)
        }
        table.add(.delete, "/vmware-credentials/{id}", .role(.admin)) { _, context -> HTTPResponse.Status in
            let record = try await existing(context, services)
            try await catalog.deleteVMwareCredential(id: record.id ?? 0)
            return .noContent
        }
        table.add(.post, "/vmware-credentials/{id}/test", .role(.operator)) { _, context -> CredentialTestResponse in
            let record = try await existing(context, services)
            let result = try await services.vmware.test(record)
            return CredentialTestResponse(success: result.success, message: result.message, vmCount: result.vmCount,
                                          vcenterVersion: result.vcenterVersion)
        }
    }

    static func checkPassword(_ password: String) throws {
        if let problem = NameRules.vCenterPasswordProblem(password) { throw APIError.badRequest(problem) }
    }

    static func existing(_ context: HubContext, _ services: HubServices) async throws -> VMwareCredentialRecord {
        try await services.vmware.credential(try context.parameters.requireID("id"))
    }
}

extension String {
    var nilIfBlank: String? { trimmingWhitespace().isEmpty ? nil : self }
}
