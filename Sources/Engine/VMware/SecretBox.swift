import Crypto
import Foundation
import Repository

/// Seals secrets (vCenter and share passwords) with AES-256-GCM under a key
/// file in the data dir, created once with mode 0600. The catalog holds only
/// sealed boxes, so a copy of the database alone reveals no password.
public struct SecretBox: Sendable {
    /// Raw key bytes: `SymmetricKey` is not Sendable, so one is made per use.
    private let keyBytes: Data
    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    public enum Failure: Error, CustomStringConvertible {
        case badKeyFile(String)
        case cannotOpen

        public var description: String {
            switch self {
            case .badKeyFile(let path): "the secret key file \(path) is damaged (expected 32 bytes)"
            case .cannotOpen: "a stored secret cannot be decrypted with this hub's key file"
            }
        }
    }

    /// Loads the key at `path`, creating it when missing.
    public static func loadOrCreate(at path: String) throws -> SecretBox {
        if let data = FileManager.default.contents(atPath: path) {
            guard data.count == 32 else { throw Failure.badKeyFile(path) }
            return SecretBox(keyBytes: data)
        }
        let key = SymmetricKey(size: .bits256)
        try DurableFile.write(key.withUnsafeBytes { Data($0) }, to: path, mode: .ownerReadWrite)
        return SecretBox(keyBytes: key.withUnsafeBytes { Data($0) })
    }

    init(keyBytes: Data) { self.keyBytes = keyBytes }

    public func seal(_ secret: String) throws -> Data {
        guard let combined = try AES.GCM.seal(Data(secret.utf8), using: key).combined else {
            throw Failure.cannotOpen
        }
        return combined
    }

    public func open(_ sealed: Data) throws -> String {
        do {
            let data = try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: key)
            guard let text = String(data: data, encoding: .utf8) else { throw Failure.cannotOpen }
            return text
        } catch {
            throw Failure.cannotOpen
        }
    }
}
