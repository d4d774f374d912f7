import HummingbirdBcrypt
import SendenseCore

/// bcrypt hashing and checking, run on the blocking pool: a cost-12 hash
/// takes a quarter of a second of CPU and must not hold up request handling.
public struct PasswordHasher: Sendable {
    public let cost: UInt8

    public init(cost: UInt8) { self.cost = cost }

    public func hash(_ password: String) async throws -> String {
        let cost = self.cost
        return await BlockingPool.shared.run { Bcrypt.hash(password, cost: cost) }
    }

    public func verify(_ password: String, against hash: String) async throws -> Bool {
        await BlockingPool.shared.run { Bcrypt.verify(password, hash: hash) }
    }

    /// Hashes once when the user name is unknown, so a login for a missing
    /// user takes as long as one for a real user and does not reveal which exist.
    func burnTime(_ password: String) async throws {
        _ = try await hash(password)
    }
}
