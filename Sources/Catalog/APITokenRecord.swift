import Foundation
import GRDB
import SendenseCore

/// A bearer token, kept only as the hex SHA-256 of its value.
public struct APITokenRecord: CatalogRecord, Sendable {
    public static let databaseTableName = "api_tokens"

    public var id: Int64?
    public var userId: Int64
    public var tokenHash: String
    public var createdAt: Date
    public var expiresAt: Date
    public var revokedAt: Date?

    public init(userId: Int64, tokenHash: String, createdAt: Date, expiresAt: Date) {
        self.userId = userId
        self.tokenHash = tokenHash
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }

    static func revokeAll(_ db: Database, userID: Int64, now: Date) throws {
        try APITokenRecord
            .filter(Column("user_id") == userID && Column("revoked_at") == nil)
            .updateAll(db, Column("revoked_at").set(to: now))
    }

    enum CodingKeys: String, CodingKey {
        case id
        case userId = "user_id"
        case tokenHash = "token_hash"
        case createdAt = "created_at"
        case expiresAt = "expires_at"
        case revokedAt = "revoked_at"
    }
}

extension CatalogDatabase {
    public func insertToken(_ token: APITokenRecord) async throws {
        try await pool.write { db in
            var token = token
            try token.insert(db)
            // Expired tokens are of no use to anyone: drop them as new ones come.
            try APITokenRecord.filter(Column("expires_at") < token.createdAt).deleteAll(db)
        }
    }

    /// The user a live token belongs to: not revoked, not expired.
    public func user(forTokenHash hash: String, now: Date = Date()) async throws -> UserRecord? {
        if let user = tokenUsers.user(forTokenHash: hash, now: now) { return user }
        let generation = tokenUsers.changes.count
        let found = try await pool.read { db -> (UserRecord, Date)? in
            // Asked whenever the cache misses: a cached statement is not parsed and authorized again each time.
            guard let row = try Row.fetchOne(db.cachedStatement(sql: """
                SELECT users.*, api_tokens.expires_at AS token_expires_at
                FROM users JOIN api_tokens ON api_tokens.user_id = users.id
                WHERE api_tokens.token_hash = ? AND api_tokens.revoked_at IS NULL AND api_tokens.expires_at > ?
                """), arguments: [hash, now]) else { return nil }
            return (try UserRecord(row: row), row["token_expires_at"])
        }
        guard let (user, expiresAt) = found else { return nil }
        tokenUsers.store(.init(user: user, expiresAt: expiresAt, readAt: .now), forTokenHash: hash, readInGeneration: generation)
        return user
    }

    /// Revokes one token; answers whether a live token was revoked.
    @discardableResult
    public func revokeToken(hash: String, now: Date = Date()) async throws -> Bool {
        try await pool.write { db in
            try APITokenRecord
                .filter(Column("token_hash") == hash && Column("revoked_at") == nil)
                .updateAll(db, Column("revoked_at").set(to: now)) > 0
        }
    }

    public func revokeTokens(userID: Int64, now: Date = Date()) async throws {
        try await pool.write { db in try APITokenRecord.revokeAll(db, userID: userID, now: now) }
    }
}
