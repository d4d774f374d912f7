import Foundation
import Subprocess
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Attaches and detaches network shares with the system's `mount` and
/// `umount` (mount.nfs from nfs-common, mount.cifs from cifs-utils). A hung
/// server must not hang the hub: every call runs under `timeout`.
public struct ShareMounter: Sendable {
    public var timeoutSeconds: Int
    public var mountProgram: String
    public var umountProgram: String

    public init(timeoutSeconds: Int = 30, mountProgram: String = "mount", umountProgram: String = "umount") {
        self.timeoutSeconds = timeoutSeconds
        self.mountProgram = mountProgram
        self.umountProgram = umountProgram
    }

    /// Creates `mountPoint` and mounts `share` on it. On failure the mount
    /// point and any credentials file are removed again and the error carries
    /// what `mount` said.
    public func mount(_ share: NetworkShare, at mountPoint: String, credentialsDirectory: String) async throws {
        let share = try share.validated()
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        var credentialsFile: String?
        defer {
            if let credentialsFile { _ = unlink(credentialsFile) }
        }
        do {
            if let contents = share.credentialsFileContents {
                let path = credentialsDirectory + "/.cifs-credentials-\(UUID().uuidString)"
                try DurableFile.write(Data(contents.utf8), to: path, mode: .ownerReadWrite)
                credentialsFile = path
            }
            let arguments = share.mountArguments(mountPoint: mountPoint, credentialsFile: credentialsFile)
            let (ok, message) = try await runTimed(mountProgram, arguments)
            guard ok else {
                throw RepositoryError.mountFailed("mounting the share failed: \(message)")
            }
        } catch {
            _ = rmdir(mountPoint)
            if let error = error as? RepositoryError { throw error }
            throw RepositoryError.mountFailed("mounting the share failed: \(error)")
        }
    }

    /// Unmounts and removes the mount point. A folder that is not mounted is
    /// only removed (when empty).
    public func unmount(_ mountPoint: String) async throws {
        if Self.isMountPoint(mountPoint) {
            let (ok, message) = try await runTimed(umountProgram, [mountPoint])
            guard ok else { throw RepositoryError.unmountFailed("unmounting \(mountPoint) failed: \(message)") }
        }
        _ = rmdir(mountPoint)
    }

    /// A folder is a mount point when it sits on another device than its parent.
    public static func isMountPoint(_ path: String) -> Bool {
        var own = stat(), parent = stat()
        guard stat(path, &own) == 0, stat(path + "/..", &parent) == 0 else { return false }
        return own.st_dev != parent.st_dev
    }

    private func runTimed(_ program: String, _ arguments: [String]) async throws -> (Bool, String) {
        let result = try await run(
            .name("timeout"),
            arguments: Arguments(["--kill-after=5", String(timeoutSeconds), program] + arguments),
            output: .string(limit: 64 * 1024),
            error: .string(limit: 64 * 1024)
        )
        let said = [result.standardError, result.standardOutput]
            .compactMap { $0?.trimmingCharacters(in: .whitespacesAndNewlines) }
            .filter { !$0.isEmpty }
            .joined(separator: "; ")
        if case .exited(124) = result.terminationStatus {
            return (false, "\(program) did not finish within \(timeoutSeconds) s (is the server reachable?)")
        }
        if case .exited(127) = result.terminationStatus {
            return (false, "\(program) is not installed")
        }
        return (result.terminationStatus.isSuccess, said.isEmpty ? "\(program) exited with \(result.terminationStatus)" : said)
    }
}
