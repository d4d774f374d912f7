import Crypto
import Foundation
import HummingbirdBcrypt
import SendenseCore

/// bcrypt hashing and checking, run on the blocking pool: a cost-12 hash
/// takes a quarter of a second of CPU and must not hold up request handling.
/// bcrypt reads at most 72 bytes, so a longer password is first reduced to
/// the base64 of its SHA-256 (44 bytes): every byte of it counts, and a
/// password of 72 bytes or fewer is hashed as it always was.
public struct PasswordHasher: Sendable {
    public let cost: UInt8

    public init(cost: UInt8) { self.cost = cost }

    public func hash(_ password: String) async throws -> String {
        let cost = self.cost
        let input = Self.bcryptInput(password)
        return await BlockingPool.shared.run { Bcrypt.hash(input, cost: cost) }
    }

    public func verify(_ password: String, against hash: String) async throws -> Bool {
        let input = Self.bcryptInput(password)
        return await BlockingPool.shared.run { Bcrypt.verify(input, hash: hash) }
    }

    /// Hashes once when the user name is unknown, so a login for a missing
    /// user takes as long as one for a real user and does not reveal which exist.
    func burnTime(_ password: String) async throws {
        _ = try await hash(password)
    }

    static func bcryptInput(_ password: String) -> String {
        guard password.utf8.count > 72 else { return password }
        return Data(SHA256.hash(data: Data(password.utf8))).base64EncodedString()
    }
}
