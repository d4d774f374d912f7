import Crypto
import DiskImage
@testable import FileRestore
import Foundation
import TestSupport
import Testing

/// btrfs as the kernel writes it (Tests/Fixtures/make_btrfs_fixture.py):
/// zstd, zlib and LZO extents, inline and sparse files, a subvolume.
@Suite("btrfs")
struct BtrfsTests {
    struct Expected: Decodable {
        let files: [String: String]
        let compression: [String]
    }

    static let fixtures = packageRoot + "/Tests/Fixtures"

    @Test("every file reads back byte for byte, whatever its extents; names, links, times, the subvolume")
    func contents() throws {
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/btrfs-files.json")))
        #expect(expected.compression == ["0", "1", "2", "3"], "the fixture holds plain, zlib, LZO and zstd extents")
        let browser = try RestoreBrowser(image: DiskImages.open(path: Self.fixtures + "/btrfs.qcow2", backingsWithin: nil))
        #expect(browser.filesystemType == "btrfs" && !browser.partitionsAsFolders)
        #expect(browser.volumes.first?.label == "btdata")
        let restored = try Fixtures.tree(browser, "/").mapValues { SHA256.hash(data: $0).map { String(format: "%02x", $0) }.joined() }
        #expect(restored == expected.files)
        let top = try browser.list("/")
        #expect(top.map(\.name) == ["docs", "Données été", "home", "lzo", "zlib", "latest", "readme.txt", "sparse.bin"])
        let link = try #require(top.first { $0.name == "latest" })
        #expect(link.kind == .symlink && link.linkTarget == "docs/zstd text.txt")
        let readme = try #require(top.first { $0.name == "readme.txt" })
        #expect(readme.mode == 0o644 && readme.modified == Date(timeIntervalSince1970: 1_748_779_200))
        #expect(try browser.list("/home/alice").map(\.name) == ["notes.txt"])
        // A read across an extent boundary and inside a hole.
        let sparse = try browser.openFile(try browser.entry(at: "/sparse.bin"))
        var buffer = [UInt8](repeating: 0xAA, count: 8192)
        #expect(try buffer.withUnsafeMutableBytes { try sparse.read(into: $0, at: (4 << 20) - 4096) } == 8192)
        #expect(buffer[0..<4096].allSatisfy { $0 == 0 } && buffer[4096...].contains { $0 != 0 })
    }
}
