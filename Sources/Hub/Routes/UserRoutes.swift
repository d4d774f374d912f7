import Catalog
import Foundation
import HTTPTypes
import Hummingbird
import SendenseAPI
import SendenseCore

extension UserResponse {
    init(_ record: UserRecord) {
        self.init(id: record.id ?? 0, username: record.username, role: record.role, createdAt: record.createdAt)
    }
}

/// `/users`: admins only. The last admin can be neither deleted nor demoted.
enum UserRoutes {
    static func register(_ table: RouteTable, _ services: HubServices) {
        let catalog = services.catalog
        table.add(.get, "/users", .role(.admin)) { _, _ -> UserListResponse in
            let users = try await catalog.users().map(UserResponse.init)
            return UserListResponse(users: users, count: users.count)
        }
        table.add(.post, "/users", .role(.admin)) { request, _ -> EditedResponse<UserResponse> in
            let body = try await request.decodeJSON(NewUserRequest.self, limit: services.maxBody)
            if let problem = NameRules.usernameProblem(body.username) { throw APIError.badRequest(problem) }
            if let problem = NameRules.passwordProblem(body.password) { throw APIError.badRequest(problem) }
            let hash = try await services.hasher.hash(body.password)
            let user = try await catalog.insertUser(UserRecord(username: body.username, passwordHash: hash, role: body.role))
            return EditedResponse(status: .created, response: UserResponse(user))
        }
        table.add(.get, "/users/{id}", .role(.admin)) { _, context -> UserResponse in
            let id = try context.parameters.requireID("id")
            guard let user = try await catalog.user(id: id) else { throw APIError.notFound("user not found: id=\(id)") }
            return UserResponse(user)
        }
        table.add(.put, "/users/{id}", .role(.admin)) { request, context -> UserResponse in
            let id = try context.parameters.requireID("id")
            let body = try await request.decodeJSON(UserUpdateRequest.self, limit: services.maxBody)
            if body.password == nil && body.role == nil {
                throw APIError.badRequest("nothing to change: send 'password' and/or 'role'")
            }
            if let password = body.password, let problem = NameRules.passwordProblem(password) {
                throw APIError.badRequest(problem)
            }
            guard try await catalog.user(id: id) != nil else { throw APIError.notFound("user not found: id=\(id)") }
            let hash: String? = if let password = body.password { try await services.hasher.hash(password) } else { nil }
            return UserResponse(try await catalog.updateUser(id: id, passwordHash: hash, role: body.role))
        }
        table.add(.delete, "/users/{id}", .role(.admin)) { _, context -> HTTPResponse.Status in
            let id = try context.parameters.requireID("id")
            try await catalog.deleteUser(id: id)
            return .noContent
        }
    }
}
