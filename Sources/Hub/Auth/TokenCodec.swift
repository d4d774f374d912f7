import Crypto
import Foundation
import SendenseCore

/// Bearer tokens: 256 random bits, base64url, and the SHA-256 hex digest
/// the catalog keeps instead of the token.
public enum TokenCodec {
    public static func newToken() -> String {
        var generator = SystemRandomNumberGenerator()  // getrandom(2): a CSPRNG
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public static func hash(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).lowercaseHex
    }

    /// A random password of letters and digits for generated accounts.
    public static func newPassword(length: Int = 20) -> String {
        let alphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<length).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }
}
