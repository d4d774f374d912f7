import Crypto
import DiskImage
@testable import FileRestore
import Foundation
import TestSupport
import Testing

/// LVM2 volume groups (linear, spanning two disks, striped) holding XFS and
/// ext4, in disks whose metadata LVM2's own tools wrote
/// (Tests/Fixtures/make_lvm_fixtures.py).
@Suite("LVM2 and XFS", .removesScratch)
struct LVMTests {
    static let fixtures = packageRoot + "/Tests/Fixtures"
    static var disk0: String { fixtures + "/lvm-disk0.qcow2" }
    static var disk1: String { fixtures + "/lvm-disk1.qcow2" }

    /// Logical volume (or "boot") → relative path → SHA-256, as the fixture script recorded them.
    static func expected() throws -> [String: [String: String]] {
        try JSONDecoder().decode([String: [String: String]].self, from: Data(contentsOf: URL(fileURLWithPath: fixtures + "/lvm-files.json")))
    }

    static func hashes(_ browser: RestoreBrowser, _ folder: String) throws -> [String: String] {
        try Fixtures.tree(browser, folder).mapValues { SHA256.hash(data: $0).map { String(format: "%02x", $0) }.joined() }
    }

    @Test("a volume group over two disks: each logical volume is a folder whose files read back exactly")
    func spanningGroup() throws {
        let browser = try RestoreBrowser(image: DiskImages.open(path: Self.disk0, backingsWithin: nil), companions: [DiskImages.open(path: Self.disk1, backingsWithin: nil)])
        #expect(browser.volumes.map(\.name) == [
            "Partition 1 - boot (8.0 MB)", "vgdata-root (320.0 MB)", "vgdata-home (24.0 MB)", "vgdata-stripes (16.0 MB)",
        ])
        #expect(browser.volumes.map(\.filesystemType) == ["ext4", "xfs", "ext4", "ext4"])
        #expect(browser.volumes.map(\.label) == ["boot", "rootfs", "home", "stripes"])
        let expected = try Self.expected()
        for (volume, key) in zip(browser.volumes, ["boot", "root", "home", "stripes"]) {
            #expect(try Self.hashes(browser, "/" + volume.name) == expected[key], "\(volume.name)")
        }
        // XFS details: names, modes, times, a deeper path, paging through the worker later.
        let etc = try browser.list("/vgdata-root (320.0 MB)/etc")
        #expect(etc.map(\.name) == ["été.conf", "hostname"])
        #expect(etc.allSatisfy { $0.mode == 0o644 && $0.kind == .file })
        // Times as xfs_db reads the inode (big timestamps, which libfsxfs alone misreads by decades).
        let folder = scratchFolder()
        try mustRun(["qemu-img", "convert", "-O", "raw", Self.disk0, folder + "/disk0.raw"])
        try mustRun(["dd", "if=" + folder + "/disk0.raw", "of=" + folder + "/root.xfs", "bs=1M", "skip=11", "count=320", "status=none"])
        let shown = try mustRun(["xfs_db", "-r", "-c", "path /etc/hostname", "-c", "p core.mtime.nsec", folder + "/root.xfs"])
        let nanoseconds = try #require(shown.split(separator: "=").last.flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
        let hostname = try #require(etc.last?.modified)
        // A Date holds about a microsecond at this distance from 1970: compare milliseconds.
        #expect(Int((hostname.timeIntervalSince1970.truncatingRemainder(dividingBy: 1) * 1000).rounded(.down)) == nanoseconds / 1_000_000)
        #expect(abs(hostname.timeIntervalSince(try #require(FileManager.default.attributesOfItem(atPath: Self.disk0)[.modificationDate] as? Date))) < 86400 * 365 * 5,
                "a date of this decade: \(hostname)")
        #expect(throws: FileRestoreError.notFound(path: "/vgdata-root (320.0 MB)/etc/missing")) {
            try browser.entry(at: "/vgdata-root (320.0 MB)/etc/missing")
        }
    }

    @Test("a logical volume whose other disk is missing says so; the rest still reads")
    func missingDisk() throws {
        let alone = try RestoreBrowser(image: DiskImages.open(path: Self.disk1, backingsWithin: nil))
        let byName = Dictionary(uniqueKeysWithValues: alone.volumes.map { ($0.name, $0) })
        #expect(alone.volumes.count == 3)
        for name in ["vgdata-root (320.0 MB)", "vgdata-home (24.0 MB)", "vgdata-stripes (16.0 MB)"] {
            #expect(byName[name]?.filesystemType == "unsupported", "\(name)")
            #expect(byName[name]?.unsupportedReason?.contains("no disk of this restore point") == true, "\(byName[name]?.unsupportedReason ?? "")")
        }
        // Disk 1 opened with disk 0 beside it reads the same group.
        let both = try RestoreBrowser(image: DiskImages.open(path: Self.disk1, backingsWithin: nil), companions: [DiskImages.open(path: Self.disk0, backingsWithin: nil)])
        #expect(both.volumes.map(\.filesystemType) == ["xfs", "ext4", "ext4"])
        #expect(try Self.hashes(both, "/vgdata-home (24.0 MB)") == (try Self.expected())["home"])
    }

    @Test("damaged LVM metadata is reported per volume, never a crash")
    func damagedMetadata() throws {
        let folder = scratchFolder()
        try mustRun(["qemu-img", "convert", "-O", "raw", Self.disk1, folder + "/disk1.raw"])
        // The metadata area is the PV's first MiB after its label (LVM2's default): cut every brace in it.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: folder + "/disk1.raw"))
        let text = bytes[4608..<(1 << 20)]
        for index in text.indices where bytes[index] == UInt8(ascii: "{") { bytes[index] = UInt8(ascii: " ") }
        try bytes.write(to: URL(fileURLWithPath: folder + "/disk1.raw"))
        let browser = try RestoreBrowser(image: DiskImages.open(path: folder + "/disk1.raw", backingsWithin: nil))
        #expect(browser.volumes.count == 1 && browser.volumes[0].filesystemType == "unsupported")
        #expect(browser.volumes[0].unsupportedReason?.contains("LVM2") == true, "\(browser.volumes[0].unsupportedReason ?? "")")
    }
}
