import Foundation
@testable import Hub
import Testing

@Suite struct DownloadLinksTests {
    let links = DownloadLinks()
    let target = "/api/v1/restore/m1/download?path=%2Fdocs%2Fa+b.txt"

    func split(_ url: String) -> (String, String?) {
        let parts = url.split(separator: "?", maxSplits: 1).map(String.init)
        return (parts[0], parts.count > 1 ? parts[1] : nil)
    }

    @Test("a link is good for its path and query until it expires, and for nothing else")
    func lifetime() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let (url, expiresAt) = links.sign(target, tokenHash: "abc", now: now)
        #expect(expiresAt == now.addingTimeInterval(60))
        let (path, query) = split(url)
        // Signed as routes read it: the form-encoded space is spelled %20.
        #expect(query?.hasPrefix("path=%2Fdocs%2Fa%20b.txt&download_token=") == true, "\(url)")
        #expect(links.verify(path: path, query: query, now: now.addingTimeInterval(59)) == "abc")
        #expect(links.verify(path: path, query: query, now: now.addingTimeInterval(61)) == nil)
        #expect(links.verify(path: path, query: query?.replacingOccurrences(of: "a%20b", with: "a%20c"), now: now) == nil)
        #expect(links.verify(path: path.replacingOccurrences(of: "m1", with: "m2"), query: query, now: now) == nil)
        #expect(links.verify(path: path, query: query! + "&format=zip", now: now) == nil)
        #expect(DownloadLinks().verify(path: path, query: query, now: now) == nil, "another hub's key")
    }

    @Test("a query whose `?` or `+` carries a combining mark is split and spelled as the URL parser sees it")
    func scalarsNotCharacters() {
        // U+1F3FB (a skin tone) is an Extend scalar: Swift makes "?\u{1F3FB}" one Character.
        #expect(FormQuery.canonical("/a?\u{1F3FB}x+y") == "/a?\u{1F3FB}x%20y")
        #expect(FormQuery.canonical("/a?x+\u{301}") == "/a?x%20\u{301}")
    }

    @Test("only the download routes take links", arguments: [
        ("/api/v1/restore/m/download", true), ("/api/v1/restore/m/download-directory", true),
        ("/api/v1/backups/b/disks/0/image", true), ("/api/v1/users", false), ("/api/v1/restore/m/files", false),
        ("/api/v1//m/download", false), ("/api/v1/backups/b/disks/0/image/x", false), ("api/v1/restore/m/download", false),
        // A segment that starts with a combining mark: one Character with its `/`, still two URL segments.
        ("/api/v1/restore/\u{301}m/download", true), ("/api/v1/restore/m\u{301}/download", true),
    ])
    func downloadable(path: String, expected: Bool) {
        #expect(DownloadLinks.isDownloadable(path: path) == expected)
    }
}
