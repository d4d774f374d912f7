import Foundation
import GRDB
import SendenseCore

public struct UserRecord: CatalogRecord, Sendable, Equatable {
    public static let databaseTableName = "users"

    public var id: Int64?
    public var username: String
    public var passwordHash: String
    public var role: UserRole
    public var createdAt: Date
    public var updatedAt: Date

    public init(username: String, passwordHash: String, role: UserRole, now: Date = Date()) {
        self.username = username
        self.passwordHash = passwordHash
        self.role = role
        self.createdAt = now
        self.updatedAt = now
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }

    enum CodingKeys: String, CodingKey {
        case id
        case username
        case passwordHash = "password_hash"
        case role
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
}

extension CatalogDatabase {
    public func userCount() async throws -> Int {
        try await pool.read { db in try UserRecord.fetchCount(db) }
    }

    public func users() async throws -> [UserRecord] {
        try await pool.read { db in try UserRecord.order(Column("id")).fetchAll(db) }
    }

    public func user(id: Int64) async throws -> UserRecord? {
        try await pool.read { db in try UserRecord.fetchOne(db, key: id) }
    }

    public func user(named username: String) async throws -> UserRecord? {
        try await pool.read { db in
            try UserRecord.filter(Column("username") == username).fetchOne(db)
        }
    }

    public func insertUser(_ user: UserRecord) async throws -> UserRecord {
        try await pool.write { db in
            var user = user
            try mapUniqueViolation("a user named \(user.username) already exists") {
                try user.insert(db)
            }
            return user
        }
    }

    /// Changes a user's password hash and/or role. Demoting the last admin is
    /// refused, checked in the same transaction as the write. A new password
    /// revokes every token the user holds.
    public func updateUser(id: Int64, passwordHash: String?, role: UserRole?, now: Date = Date()) async throws -> UserRecord {
        try await pool.write { db in
            guard var user = try UserRecord.fetchOne(db, key: id) else {
                throw CatalogError.notFound("user not found: id=\(id)")
            }
            if let role, user.role == .admin, role != .admin, try Self.adminCount(db) <= 1 {
                throw CatalogError.refused("\(user.username) is the last admin and must stay admin")
            }
            if let passwordHash {
                user.passwordHash = passwordHash
                try APITokenRecord.revokeAll(db, userID: id, now: now)
            }
            if let role { user.role = role }
            user.updatedAt = now
            try user.update(db)
            return user
        }
    }

    /// Deletes a user and, by cascade, its tokens. The last admin cannot go.
    public func deleteUser(id: Int64) async throws {
        try await pool.write { db in
            guard let user = try UserRecord.fetchOne(db, key: id) else {
                throw CatalogError.notFound("user not found: id=\(id)")
            }
            if user.role == .admin, try Self.adminCount(db) <= 1 {
                throw CatalogError.refused("\(user.username) is the last admin and cannot be deleted")
            }
            try user.delete(db)
        }
    }

    private static func adminCount(_ db: Database) throws -> Int {
        try UserRecord.filter(Column("role") == UserRole.admin.rawValue).fetchCount(db)
    }
}
