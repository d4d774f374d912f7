import Foundation
import NBD
import SendenseCore
import VSphere

#if canImport(Glibc)
import Glibc
#endif

/// A VM in vCenter. A session turns on Changed Block Tracking when it is
/// off, takes a snapshot `sendense-<backup_id>` (quiesced when the guest
/// allows), reads each disk's change id at that snapshot, asks CBT what to
/// copy, and serves each disk of the snapshot over NBD through nbdkit with
/// the credential's transport. The snapshot is removed however the session
/// ends; one left by a killed hub is removed at the next start.
public struct VMwareSource: BackupSource {
    public struct Disk: Sendable, Equatable {
        public var index: Int
        public var key: Int
        public var label: String
        public var capacityBytes: UInt64
        public init(index: Int, key: Int, label: String, capacityBytes: UInt64) {
            self.index = index
            self.key = key
            self.label = label
            self.capacityBytes = capacityBytes
        }
    }

    /// How nbdkit reads a snapshot's disks.
    public enum Transport: Sendable, Equatable {
        /// nbdkit's vddk plugin (VMware's VDDK, installed by the admin under `libdir`).
        case vddk(libdir: String?)
        /// nbdkit's curl plugin through the datastore HTTP interface (`/folder/…`), with the session cookie.
        case https
        /// nbdkit's ssh plugin against the ESXi host holding the VM.
        case ssh
    }

    /// vCenter and its account (the vddk and ssh transports log in with it too; https uses the session cookie).
    public let login: VCenterLogin
    public let vmMoref: String
    public let datacenter: String
    public let disksToCopy: [Disk]
    public let transport: Transport
    public let socketDirectory: String
    /// Where the nbdkit servers sessions start are recorded.
    public var processLog: (any ChildProcessLog)?
    /// How often the session is kept alive while nbdkit uses its cookie.
    public var keepAliveInterval: Duration = .seconds(300)

    public static let snapshotPrefix = "sendense-"

    public init(login: VCenterLogin, vmMoref: String, datacenter: String, disks: [Disk], transport: Transport, socketDirectory: String) {
        self.login = login
        self.vmMoref = vmMoref
        self.datacenter = datacenter
        self.disksToCopy = disks
        self.transport = transport
        self.socketDirectory = socketDirectory
    }

    public func disks() async throws -> [SourceDisk] {
        disksToCopy.map { SourceDisk(index: $0.index, label: $0.label, capacityBytes: $0.capacityBytes, location: String($0.key)) }
    }

    public func withSession<Result: Sendable>(
        backupID: String, parentCheckpoints: [Int: String]?, replacing obsolete: [Int: String],
        _ body: (BackupSession) async throws -> (result: Result, committed: Bool)
    ) async throws -> Result {
        // Change IDs keep no state at the source: nothing to drop when one is replaced.
        if case .vddk = transport { try await BlockingPool.shared.run { try Self.requirePlugin("vddk") } }
        return try await VSphereClient.with(login) { client in
            try await VMwareSession(source: self, client: client, owner: .init(jobID: backupID, log: processLog)).run(backupID: backupID, parentCheckpoints: parentCheckpoints, body)
        }
    }
}

extension VMwareSource {
    /// Fails with what to install when nbdkit lacks a plugin. It waits for
    /// nbdkit: run it on the blocking pool.
    static func requirePlugin(_ plugin: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nbdkit")
        process.arguments = [plugin, "--version"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        let exited = process.exitSignal()
        do {
            try process.run()
            exited.wait()
        } catch {
            throw SourceError.exportFailed("nbdkit is not installed: \(error)")
        }
        guard process.terminationStatus == 0 else {
            throw SourceError.exportFailed("the nbdkit \(plugin) plugin is not available: install VMware's VDDK and nbdkit's vddk plugin (nbdkit-plugin-vddk), or choose the https transport for this vCenter")
        }
    }

    static func encodePath(_ path: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "?#%;")
        return path.addingPercentEncoding(withAllowedCharacters: allowed) ?? path
    }

    static func encodeQuery(_ value: String) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+?#%")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }
}
