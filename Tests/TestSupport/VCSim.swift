import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The test vCenter (Tests/vcsim: govmomi's simulator plus change tracking),
/// running for one test. Built on first use by scripts/build-vcsim.sh.
public final class VCSim: @unchecked Sendable {
    public struct Info: Decodable, Sendable {
        public var url: String
        public var host: String
        public var port: String
        public var username: String
        public var password: String
        public var sha1_thumbprint: String
        public var sha256_thumbprint: String
        public var datastore_dir: String
        public var datastore: String
    }

    public let info: Info
    private let process: Process
    private let input: Pipe

    public var host: String { info.host }
    public var port: Int { Int(info.port) ?? 443 }

    /// Starts a simulator with `vms` VMs; `diskMB` gives each VM disk a flat
    /// extent of that size (zeros until a test writes it).
    public init(vms: Int = 4, diskMB: Int = 0, pageAreas: Int = 64, sessionIdleSeconds: Int = 0) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let build = try tool([root.path + "/scripts/build-vcsim.sh"])
        try #require(build.status == 0, "building vcsim failed: \(build.output)")
        process = Process()
        process.executableURL = root.appendingPathComponent(".build/vcsim/vcsim")
        process.arguments = ["-vms", String(vms), "-disk-mb", String(diskMB), "-cbt-page-areas", String(pageAreas),
                             "-session-idle", "\(sessionIdleSeconds)s"]
        input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
        // The first line is the JSON description; reading byte by byte stops exactly there.
        var line = Data()
        let handle = output.fileHandleForReading
        while let byte = try handle.read(upToCount: 1), let first = byte.first, first != UInt8(ascii: "\n") { line.append(first) }
        guard let decoded = try? JSONDecoder().decode(Info.self, from: line) else {
            process.terminate()
            throw VCSimError.didNotStart(String(decoding: line, as: UTF8.self))
        }
        info = decoded
    }

    /// The file holding a VM disk's data in the simulator's datastore.
    public func flatExtent(vm: String, disk: String = "disk1") -> String {
        info.datastore_dir + "/\(vm)/\(disk)-flat.vmdk"
    }

    /// Where the simulator keeps what import leases were sent (`<disk file name>`).
    public var uploadFolder: String { info.datastore_dir + "/_nfc_uploads" }

    /// Makes the next `count` calls of a task method (CreateSnapshot_Task, RemoveSnapshot_Task, ReconfigVM_Task, PowerOnVM_Task) start failing tasks.
    public func failNext(_ method: String, count: Int = 1) throws {
        try mustRun(["curl", "-sfk", "-X", "POST", info.url + "/_sendense/fail?method=\(method)&count=\(count)"])
    }

    public func stop() {
        guard process.isRunning else { return }
        try? input.fileHandleForWriting.close()
        for _ in 0..<200 where process.isRunning { usleep(10_000) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    deinit { stop() }
}

public enum VCSimError: Error {
    case didNotStart(String)
}
