import Foundation
import NBD
import SendenseCore

#if canImport(Glibc)
import Glibc
#endif

/// A process serving NBD on a unix socket the job owns: a server (`qemu-nbd`,
/// `nbdkit`) of one disk, read-only, or `ssh` forwarding the socket to an NBD
/// server on another host. Each `with…` starts it and always stops it
/// (SIGTERM, then SIGKILL) and removes the socket, whether the body returns,
/// throws or is cancelled.
enum NBDServerProcess {
    /// Who started a server and where it is recorded.
    struct Owner: Sendable {
        var jobID: String
        var log: (any ChildProcessLog)?
    }

    static func withQemuNBD<Result: Sendable>(
        image: String, format: String, bitmap: String?, socketDirectory: String, owner: Owner,
        _ body: (NBDEndpoint) async throws -> Result
    ) async throws -> Result {
        let socket = socketPath(in: socketDirectory)
        var arguments = ["-f", format, "--read-only", "--persistent", "--shared=4", "-k", socket, "--pid-file", socket + ".pid", "-x", "disk"]
        if let bitmap { arguments += ["-B", bitmap] }
        arguments.append(image)
        return try await withServer(executable: "/usr/bin/qemu-nbd", arguments: arguments, socket: socket, owner: owner,
                                    graceful: false, isReady: pidFileWritten(socket)) { try await body(NBDEndpoint(transport: .unix(path: socket), exportName: "disk")) }
    }

    /// nbdkit in the foreground with `plugin` and its `parameters`; it also
    /// exits with the hub (`--exit-with-parent`), so a killed hub leaves none behind.
    static func withNbdkit<Result: Sendable>(
        plugin: String, parameters: [String], socketDirectory: String, owner: Owner,
        _ body: (NBDEndpoint) async throws -> Result
    ) async throws -> Result {
        let socket = socketPath(in: socketDirectory)
        let arguments = ["-f", "-r", "--exit-with-parent", "-U", socket, "-P", socket + ".pid", "-e", "disk", plugin] + parameters
        return try await withServer(executable: "/usr/bin/nbdkit", arguments: arguments, socket: socket, owner: owner,
                                    graceful: true, isReady: pidFileWritten(socket)) { try await body(NBDEndpoint(transport: .unix(path: socket), exportName: "disk")) }
    }

    /// `ssh` forwarding `socket` (on this machine) to `port` on the loopback
    /// of the host `ssh` reaches, where QEMU's NBD server listens: the disk
    /// crosses the network encrypted, and the server is never reachable from
    /// it. Each NBD connection is a channel of the one SSH connection.
    static func withSSHTunnel<Result: Sendable>(
        _ ssh: [String], port: Int, socket: String, owner: Owner, _ body: () async throws -> Result
    ) async throws -> Result {
        let arguments = ["-N", "-o", "ExitOnForwardFailure=yes", "-o", "ControlMaster=no", "-o", "ControlPath=none",
                         "-o", "StreamLocalBindUnlink=yes", "-L", "\(socket):127.0.0.1:\(port)"] + ssh
        return try await withServer(executable: "/usr/bin/ssh", arguments: arguments, socket: socket, owner: owner,
                                    graceful: true, isReady: { accepts(socket) }, body)
    }

    /// qemu-nbd and nbdkit write their PID file once they listen (their socket exists a moment before).
    private static func pidFileWritten(_ socket: String) -> @Sendable () -> Bool {
        { FileManager.default.fileExists(atPath: socket + ".pid") }
    }

    /// Whether something listens on the unix socket `path`.
    private static func accepts(_ path: String) -> Bool {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        guard path.utf8.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        } == 0
    }

    /// qemu-nbd allocates a bounce buffer per request (up to 4 MiB); glibc
    /// would mmap and unmap each one, faulting in fresh pages every time
    /// (measured: a 2 GiB full backup 3.3 s → 2.3 s without that). Served
    /// from a heap kept for reuse instead, like the hub's own (MemoryTuning).
    static let allocatorTunables = "glibc.malloc.mmap_threshold=67108864:glibc.malloc.trim_threshold=268435456"

    private static func socketPath(in directory: String) -> String {
        directory + "/nbd-\(UUID().uuidString.prefix(8)).sock"
    }

    private static func withServer<Result: Sendable>(
        executable: String, arguments: [String], socket: String, owner: Owner, graceful: Bool,
        isReady: @escaping @Sendable () -> Bool, _ body: () async throws -> Result
    ) async throws -> Result {
        let name = URL(fileURLWithPath: executable).lastPathComponent
        var environment = ProcessInfo.processInfo.environment
        environment["GLIBC_TUNABLES"] = [environment["GLIBC_TUNABLES"], allocatorTunables].compactMap { $0 }.joined(separator: ":")
        let process: SpawnedProcess
        do {
            process = try SpawnedProcess(executable: executable, arguments: arguments, environment: environment)
        } catch {
            throw SourceError.exportFailed("\(error)")
        }
        let child = ChildProcess(pid: process.pid, startTime: ChildProcess.startTime(of: process.pid) ?? 0,
                                 command: name, jobID: owner.jobID)
        await owner.log?.started(child)
        let outcome: Swift.Result<Result, any Error>
        do {
            // A server's socket exists a moment before it listens (a connection
            // then is refused): `isReady` says when it does. An early exit is a failure.
            let deadline = ContinuousClock.now + .seconds(30)
            while !isReady() {
                guard process.isRunning else { throw SourceError.exportFailed("\(name) exited: \(process.errorOutput())") }
                guard ContinuousClock.now < deadline else { throw SourceError.exportFailed("\(name) did not start within 30 s") }
                // qemu-nbd listens ~6 ms after it starts: look often, it is on every backup's path.
                try await Task.sleep(for: .microseconds(500))
            }
            outcome = .success(try await body())
        } catch {
            outcome = .failure(error)
        }
        // Stopped whatever happened, waiting for its exit off the cooperative pool.
        // qemu-nbd reacts to SIGTERM only after about a second (its main loop
        // polls); its export is read-only and its client gone, so nothing can
        // be lost: it is killed at once. nbdkit and ssh get SIGTERM and 20 ms.
        await BlockingPool.shared.run { process.stop(graceful ? SIGTERM : SIGKILL) }
        unlink(socket)
        unlink(socket + ".pid")
        // Forgotten only once it is gone: a crash in between leaves a row the janitor checks.
        await owner.log?.ended(child)
        return try outcome.get()
    }
}
