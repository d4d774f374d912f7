import Crypto
import Foundation
import SendenseCore

/// Short-lived signed links for browser downloads. A browser saving a file
/// from a plain link cannot send the `Authorization` header, and fetching it
/// into script memory first would hold a whole disk image in the tab. So the
/// GUI asks for a link (`POST /auth/download-link`, with its token) and the
/// browser follows it. A link:
/// - is good for one exact path and query (any change breaks the signature),
///   and only for the download routes;
/// - carries the SHA-256 of the caller's token, not the token: it dies with a
///   logout, and the user's role is checked again when it is used;
/// - expires after `lifetime` (the download, once started, runs to its end);
/// - is signed with a key that lives in memory only: a hub restart voids it.
struct DownloadLinks: Sendable {
    static let parameter = "download_token"
    static let lifetime: TimeInterval = 60
    /// Raw bytes (SymmetricKey is not Sendable); a key is made from them per signature.
    private let key: [UInt8] = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }

    /// `/api/v1/restore/{id}/download`, `…/download-directory`, `/api/v1/backups/{id}/disks/{n}/image`.
    static func isDownloadable(path: String) -> Bool {
        // Split by scalar: a segment may start with a combining mark, which Swift's Characters would glue to the `/`.
        let parts = path.unicodeScalars.split(separator: "/", omittingEmptySubsequences: false).map { String(String.UnicodeScalarView($0)) }
        guard parts.count >= 5, parts[0].isEmpty, parts.dropFirst().allSatisfy({ !$0.isEmpty }), parts[1] == "api", parts[2] == "v1" else { return false }
        switch (parts[3], parts.count) {
        case ("restore", 6): return parts[5] == "download" || parts[5] == "download-directory"
        case ("backups", 8): return parts[5] == "disks" && parts[7] == "image"
        default: return false
        }
    }

    /// The link for `target` (path and optional query, as the browser will
    /// request it). Signed as routes see it: a `+` in its query is a space.
    func sign(_ asked: String, tokenHash: String, now: Date = Date()) -> (url: String, expiresAt: Date) {
        let target = FormQuery.canonical(asked)
        let expiry = Int64(now.addingTimeInterval(Self.lifetime).timeIntervalSince1970.rounded(.up))
        let token = "\(expiry).\(tokenHash).\(mac(target, expiry: expiry, tokenHash: tokenHash))"
        let separator = target.contains("?") ? "&" : "?"
        return (target + separator + Self.parameter + "=" + token, Date(timeIntervalSince1970: TimeInterval(expiry)))
    }

    /// The token hash a request's link was signed for, or nil when the request
    /// has no link, or a forged, altered or expired one.
    func verify(path: String, query: String?, now: Date = Date()) -> String? {
        guard let query, Self.isDownloadable(path: path) else { return nil }
        var items = query.split(separator: "&", omittingEmptySubsequences: false)
        guard let index = items.firstIndex(where: { $0.hasPrefix(Self.parameter + "=") }) else { return nil }
        let token = items.remove(at: index).dropFirst(Self.parameter.count + 1)
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let expiry = Int64(parts[0]), TimeInterval(expiry) >= now.timeIntervalSince1970 else { return nil }
        let tokenHash = String(parts[1])
        let target = items.isEmpty ? path : path + "?" + items.joined(separator: "&")
        guard constantTimeEqual(mac(target, expiry: expiry, tokenHash: tokenHash), String(parts[2])) else { return nil }
        return tokenHash
    }

    private func mac(_ target: String, expiry: Int64, tokenHash: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Data("\(expiry)\n\(tokenHash)\n\(target)".utf8), using: SymmetricKey(data: key))
        return code.lowercaseHex
    }

    private func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
