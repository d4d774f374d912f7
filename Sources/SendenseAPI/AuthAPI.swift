import Foundation
import SendenseCore

/// `POST /auth/login`.
public struct LoginRequest: Codable, Sendable {
    public var username: String
    public var password: String
    /// A shorter (or, up to the hub's maximum, longer) lifetime, for scripts and Prometheus scrapers.
    public var expiresInSeconds: Int?

    public init(username: String, password: String, expiresInSeconds: Int? = nil) {
        self.username = username
        self.password = password
        self.expiresInSeconds = expiresInSeconds
    }

    enum CodingKeys: String, CodingKey {
        case username, password, expiresInSeconds = "expires_in_seconds"
    }
}

public struct LoginResponse: Codable, Sendable {
    public var token: String
    public var expiresAt: Date
    public var username: String
    public var role: UserRole

    public init(token: String, expiresAt: Date, username: String, role: UserRole) {
        self.token = token
        self.expiresAt = expiresAt
        self.username = username
        self.role = role
    }

    enum CodingKeys: String, CodingKey {
        case token, expiresAt = "expires_at", username, role
    }
}

/// `POST /users`.
public struct NewUserRequest: Codable, Sendable {
    public var username: String
    public var password: String
    public var role: UserRole

    public init(username: String, password: String, role: UserRole) {
        self.username = username
        self.password = password
        self.role = role
    }
}

/// `PUT /users/{id}`: a new password, a new role, or both.
public struct UserUpdateRequest: Codable, Sendable {
    public var password: String?
    public var role: UserRole?

    public init(password: String? = nil, role: UserRole? = nil) {
        self.password = password
        self.role = role
    }
}

public struct UserResponse: Codable, Sendable {
    public var id: Int64
    public var username: String
    public var role: UserRole
    public var createdAt: Date

    public init(id: Int64, username: String, role: UserRole, createdAt: Date) {
        self.id = id
        self.username = username
        self.role = role
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id, username, role, createdAt = "created_at"
    }
}

public struct UserListResponse: Codable, Sendable {
    public var users: [UserResponse]
    public var count: Int

    public init(users: [UserResponse], count: Int) {
        self.users = users
        self.count = count
    }
}
