import Catalog
import Foundation
import HTTPTypes
import Hummingbird
import SendenseCore
import VSphere

/// A credential as a client sends it; on PUT every field is optional and a
/// missing password keeps the stored one.
struct VMwareCredentialRequest: Decodable, Sendable {
    var name: String?
    var vcenterHost: String?
    var vcenterPort: Int?
    var username: String?
    var password: String?
    var datacenter: String?
    var thumbprint: String?
    var insecure: Bool?
    var transport: String?

    enum CodingKeys: String, CodingKey {
        case name, username, password, datacenter, thumbprint, insecure, transport
        case vcenterHost = "vcenter_host", vcenterPort = "vcenter_port"
    }
}

/// Never the password, not even sealed.
struct VMwareCredentialResponse: ResponseEncodable {
    var id: Int64
    var name: String
    var vcenterHost: String
    var vcenterPort: Int
    var username: String
    @Nullable var datacenter: String?
    @Nullable var thumbprint: String?
    var insecure: Bool
    var transport: String
    var vmCount: Int
    var createdAt: Date
    var updatedAt: Date

    init(_ record: VMwareCredentialRecord, vmCount: Int) {
        id = record.id ?? 0
        name = record.name
        vcenterHost = record.vcenterHost
        vcenterPort = record.vcenterPort
        username = record.username
        datacenter = record.datacenter
        thumbprint = record.thumbprint
        insecure = record.insecure
        transport = record.transport
        self.vmCount = vmCount
        createdAt = record.createdAt
        updatedAt = record.updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, name, username, datacenter, thumbprint, insecure, transport
        case vcenterHost = "vcenter_host", vcenterPort = "vcenter_port", vmCount = "vm_count"
        case createdAt = "created_at", updatedAt = "updated_at"
    }
}

struct VMwareCredentialListResponse: ResponseEncodable {
    var credentials: [VMwareCredentialResponse]
    var count: Int
}

struct CredentialTestResponse: ResponseEncodable {
    var success: Bool
    var message: String
    var vmCount: Int?
    var vcenterVersion: String?
}

/// `/vmware-credentials`: the vCenters the hub backs up from. Admins manage
/// them; operators test them (and discover with them); everyone signed in
/// may list them.
enum VMwareCredentialRoutes {
    static let transports = ["vddk", "https", "ssh"]

    static func register(_ table: RouteTable, _ services: HubServices) {
        let catalog = services.catalog
        let vmware = services.vmware
        table.add(.get, "/vmware-credentials", .role(.viewer)) { _, _ -> VMwareCredentialListResponse in
            let contexts = try await catalog.vmContexts()
            let list = try await catalog.vmwareCredentials().map { record in
                VMwareCredentialResponse(record, vmCount: contexts.count { $0.credentialId == record.id })
            }
            return VMwareCredentialListResponse(credentials: list, count: list.count)
        }
        table.add(.get, "/vmware-credentials/{id}", .role(.viewer)) { _, context -> VMwareCredentialResponse in
            let record = try await existing(context, catalog)
            return VMwareCredentialResponse(record, vmCount: try await catalog.vmContexts(credentialID: record.id ?? 0).count)
        }
        table.add(.post, "/vmware-credentials", .role(.admin)) { request, _ -> EditedResponse<VMwareCredentialResponse> in
            let body = try await request.decodeJSON(VMwareCredentialRequest.self, limit: services.maxBody)
            guard let name = body.name, let host = body.vcenterHost, let username = body.username, let password = body.password else {
                throw APIError.badRequest("name, vcenter_host, username and password are required")
            }
            guard !password.isEmpty, password.utf8.count <= 1024 else { throw APIError.badRequest("password must be 1 to 1024 bytes") }
            var record = VMwareCredentialRecord(
                name: name, vcenterHost: host, vcenterPort: body.vcenterPort ?? 443, username: username,
                passwordEncrypted: try services.secrets.seal(password), datacenter: body.datacenter?.nilIfBlank,
                thumbprint: body.thumbprint?.nilIfBlank, insecure: body.insecure ?? false, transport: body.transport ?? "https")
            try validate(record)
            record.thumbprint = record.thumbprint.flatMap { CertificateTrust.displayed(thumbprint: $0) }
            record = try await catalog.insertVMwareCredential(record)
            return EditedResponse(status: .created, response: VMwareCredentialResponse(record, vmCount: 0))
        }
        table.add(.put, "/vmware-credentials/{id}", .role(.admin)) { request, context -> VMwareCredentialResponse in
            var record = try await existing(context, catalog)
            let body = try await request.decodeJSON(VMwareCredentialRequest.self, limit: services.maxBody)
            if let name = body.name { record.name = name }
            if let host = body.vcenterHost { record.vcenterHost = host }
            if let port = body.vcenterPort { record.vcenterPort = port }
            if let username = body.username { record.username = username }
            if let password = body.password {
                guard !password.isEmpty, password.utf8.count <= 1024 else { throw APIError.badRequest("password must be 1 to 1024 bytes") }
                record.passwordEncrypted = try services.secrets.seal(password)
            }
            if let datacenter = body.datacenter { record.datacenter = datacenter.nilIfBlank }
            if let thumbprint = body.thumbprint { record.thumbprint = thumbprint.nilIfBlank }
            if let insecure = body.insecure { record.insecure = insecure }
            if let transport = body.transport { record.transport = transport }
            try validate(record)
            record.thumbprint = record.thumbprint.flatMap { CertificateTrust.displayed(thumbprint: $0) }
            record.updatedAt = Date()
            try await catalog.updateVMwareCredential(record)
            return VMwareCredentialResponse(record, vmCount: try await catalog.vmContexts(credentialID: record.id ?? 0).count)
        }
        table.add(.delete, "/vmware-credentials/{id}", .role(.admin)) { _, context -> HTTPResponse.Status in
            let record = try await existing(context, catalog)
            try await catalog.deleteVMwareCredential(id: record.id ?? 0)
            return .noContent
        }
        table.add(.post, "/vmware-credentials/{id}/test", .role(.operator)) { _, context -> CredentialTestResponse in
            let record = try await existing(context, catalog)
            let login: VCenterLogin
            do {
                login = try vmware.login(for: record)
            } catch {
                return CredentialTestResponse(success: false, message: "the stored password cannot be decrypted with this hub's key: enter it again")
            }
            do {
                return try await VSphereClient.with(login) { client in
                    let content = try await client.serviceContent()
                    let count = try await client.inventory(types: ["VirtualMachine"], [PropertySpec(type: "VirtualMachine", paths: ["name"])]).count
                    return CredentialTestResponse(success: true, message: "connected to \(content.fullName)", vmCount: count,
                                                  vcenterVersion: content.apiVersion)
                }
            } catch let error as VSphereError {
                return CredentialTestResponse(success: false, message: error.description)
            }
        }
    }

    static func existing(_ context: HubContext, _ catalog: CatalogDatabase) async throws -> VMwareCredentialRecord {
        let id = try context.parameters.requireID("id")
        guard let record = try await catalog.vmwareCredential(id: id) else {
            throw APIError.notFound("vCenter credential not found: id=\(id)")
        }
        return record
    }

    static func validate(_ record: VMwareCredentialRecord) throws {
        if let problem = NameRules.problem(with: record.name, field: "name") { throw APIError.badRequest(problem) }
        let host = record.vcenterHost
        guard !host.isEmpty, host.count <= 253,
              host.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains(Character($0)) || ".-:[]".unicodeScalars.contains($0)) }) else {
            throw APIError.badRequest("vcenter_host must be a host name or IP address (no scheme, port or path)")
        }
        guard (1...65535).contains(record.vcenterPort) else { throw APIError.badRequest("vcenter_port must be 1 to 65535") }
        if let problem = NameRules.problem(with: record.username, field: "username") { throw APIError.badRequest(problem) }
        guard transports.contains(record.transport) else {
            throw APIError.badRequest("transport must be one of \(transports.joined(separator: ", "))")
        }
        if let thumbprint = record.thumbprint {
            guard CertificateTrust.displayed(thumbprint: thumbprint) != nil else {
                throw APIError.badRequest("thumbprint must be a SHA-1 (20 bytes) or SHA-256 (32 bytes) fingerprint in hex, e.g. AB:CD:…")
            }
            guard !record.insecure else { throw APIError.badRequest("choose either a pinned thumbprint or insecure, not both") }
        }
        if let datacenter = record.datacenter, let problem = NameRules.problem(with: datacenter, field: "datacenter") {
            throw APIError.badRequest(problem)
        }
    }
}

extension String {
    var nilIfBlank: String? { trimmingCharacters(in: .whitespaces).isEmpty ? nil : self }
}
