import Catalog
import Engine
import Foundation
import Logging
import TestSupport
import Testing

/// A VM restore cut short by a hub kill leaves rows that say what it may
/// have made; the next start removes exactly that, with a real libvirtd.
@Suite("VM restores a restart finds unsettled", .serialized, .removesScratch)
struct VMRestoreResumeTests {
    static func define(_ name: String, description: String, in folder: String) throws -> String {
        let xml = """
            <domain type='qemu'><name>\(name)</name><description>\(description)</description><memory unit='MiB'>64</memory>
              <os><type arch='x86_64' machine='pc'>hvm</type></os></domain>
            """
        let path = folder + "/\(name).xml"
        try xml.write(toFile: path, atomically: true, encoding: .utf8)
        try mustRun(LibvirtLab.virsh + ["define", path])
        return try mustRun(LibvirtLab.virsh + ["domuuid", name]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func exists(_ domain: String) -> Bool { (try? tool(LibvirtLab.virsh + ["domstate", domain]))?.status == 0 }

    @Test("its files, their partial copies and the domain it defined (by UUID, or by name when its description names the restore) go; another's domain of that name stays; the rows settle and free the names")
    func resumeUndoes() async throws {
        try LibvirtLab.ensureDaemon()
        let folder = scratchFolder()
        let catalog = try CatalogDatabase(path: folder + "/catalog.sqlite")
        let restores = VMRestores(catalog: catalog, jobs: Jobs(catalog: catalog, logger: Logger(label: "test")), dataDirectory: folder + "/data",
                                  logger: Logger(label: "test"))
        let prefix = "sendense-test-\(UUID().uuidString.prefix(6).lowercased())"
        let (named, byUUID, others) = (prefix + "-named", prefix + "-uuid", prefix + "-others")
        defer { for name in [named, byUUID, others] { _ = try? tool(LibvirtLab.virsh + ["undefine", name]) } }

        func record(_ job: String, _ domain: String, files: [String]) -> VMRestoreRecord {
            VMRestoreRecord(jobId: job, backupId: "backup-vm-1", vmName: "vm", domainName: domain, libvirtUri: LibvirtLab.uri, storagePool: nil,
                            network: nil, keepMacs: false, start: false,
                            disks: files.enumerated().map { .init(target: "vd\(["a", "b"][$0.offset])", diskIndex: $0.offset, path: $0.element) })
        }
        // Killed after defining, before the UUID was recorded: one finished disk, one partial.
        _ = try Self.define(named, description: "Restored by Sendense (restore-named) from backup backup-vm-1 of vm", in: folder)
        let namedFiles = [folder + "/\(named)-vda.qcow2", folder + "/\(named)-vdb.qcow2"]
        try Data("a".utf8).write(to: URL(fileURLWithPath: namedFiles[0]))
        try Data("b".utf8).write(to: URL(fileURLWithPath: namedFiles[1] + ".partial"))
        try await catalog.saveVMRestore(record("restore-named", named, files: namedFiles))
        // Killed after the UUID was recorded.
        var withUUID = record("restore-uuid", byUUID, files: [folder + "/\(byUUID)-vda.qcow2"])
        withUUID.domainUuid = try Self.define(byUUID, description: "Restored by Sendense (restore-uuid)", in: folder)
        try Data("c".utf8).write(to: URL(fileURLWithPath: withUUID.disks[0].path))
        try await catalog.saveVMRestore(withUUID)
        // Killed while writing, and a domain of its name that someone else defined meanwhile: not the restore's to remove.
        _ = try Self.define(others, description: "an admin's VM", in: folder)
        try await catalog.saveVMRestore(record("restore-others", others, files: [folder + "/\(others)-vda.qcow2"]))
        try Data("d".utf8).write(to: URL(fileURLWithPath: folder + "/\(others)-vda.qcow2.partial"))
        #expect(try await catalog.domainNameHeld(named))

        let lines = await restores.resume()
        #expect(lines.count == 3, "\(lines)")
        #expect(!Self.exists(named) && !Self.exists(byUUID) && Self.exists(others))
        let left = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.contains(prefix) && !$0.hasSuffix(".xml") }
        #expect(left.isEmpty, "\(left)")
        #expect(try await catalog.unsettledVMRestores().isEmpty)
        #expect(try await !catalog.domainNameHeld(named))
        #expect(await restores.resume().isEmpty)
    }
}
