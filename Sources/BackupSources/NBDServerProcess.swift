import Foundation
import NBD
import SendenseCore

#if canImport(Glibc)
import Glibc
#endif

/// An NBD server (`qemu-nbd`, `nbdkit`) serving one disk read-only on a unix
/// socket the job owns. Each `with…` starts it and always stops it (SIGTERM,
/// then SIGKILL) and removes the socket, whether the body returns, throws or
/// is cancelled.
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
        return try await withServer(executable: "/usr/bin/qemu-nbd", arguments: arguments, socket: socket, owner: owner, body)
    }

    /// nbdkit in the foreground with `plugin` and its `parameters`; it also
    /// exits with the hub (`--exit-with-parent`), so a killed hub leaves none behind.
    static func withNbdkit<Result: Sendable>(
        plugin: String, parameters: [String], socketDirectory: String, owner: Owner,
        _ body: (NBDEndpoint) async throws -> Result
    ) async throws -> Result {
        let socket = socketPath(in: socketDirectory)
        let arguments = ["-f", "-r", "--exit-with-parent", "-U", socket, "-P", socket + ".pid", "-e", "disk", plugin] + parameters
        return try await withServer(executable: "/usr/bin/nbdkit", arguments: arguments, socket: socket, owner: owner, body)
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
        executable: String, arguments: [String], socket: String, owner: Owner,
        _ body: (NBDEndpoint) async throws -> Result
    ) async throws -> Result {
        let name = URL(fileURLWithPath: executable).lastPathComponent
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["GLIBC_TUNABLES"] = [environment["GLIBC_TUNABLES"], allocatorTunables].compactMap { $0 }.joined(separator: ":")
        process.environment = environment
        let errors = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        let exited = process.exitSignal()
        do {
            try process.run()
        } catch {
            throw SourceError.exportFailed("cannot start \(name): \(error)")
        }
        let child = ChildProcess(pid: process.processIdentifier, startTime: ChildProcess.startTime(of: process.processIdentifier) ?? 0,
                                 command: name, jobID: owner.jobID)
        await owner.log?.started(child)
        let outcome: Swift.Result<Result, any Error>
        do {
            // A server's socket exists a moment before it listens (a connection
            // then is refused); both servers write their PID file (`socket`.pid)
            // once they listen. An early exit is a failure.
            let readyFile = socket + ".pid"
            let deadline = ContinuousClock.now + .seconds(30)
            while !FileManager.default.fileExists(atPath: readyFile) {
                guard process.isRunning else {
                    let message = String(decoding: errors.fileHandleForReading.availableData, as: UTF8.self)
                    throw SourceError.exportFailed("\(name) exited: \(message.trimmingCharacters(in: .whitespacesAndNewlines))")
                }
                guard ContinuousClock.now < deadline else { throw SourceError.exportFailed("\(name) did not start within 30 s") }
                // qemu-nbd listens ~6 ms after it starts: look often, it is on every backup's path.
                try await Task.sleep(for: .microseconds(500))
            }
            outcome = .success(try await body(NBDEndpoint(transport: .unix(path: socket), exportName: "disk")))
        } catch {
            outcome = .failure(error)
        }
        // Stopped whatever happened, waiting for its exit off the cooperative pool.
        await BlockingPool.shared.run { stop(process, exited: exited, graceful: name != "qemu-nbd") }
        unlink(socket)
        unlink(socket + ".pid")
        // Forgotten only once it is gone: a crash in between leaves a row the janitor checks.
        await owner.log?.ended(child)
        return try outcome.get()
    }

    /// qemu-nbd reacts to SIGTERM only after about a second (its main loop
    /// polls); its export is read-only and its client gone, so nothing can
    /// be lost: it is killed at once. nbdkit gets SIGTERM and 20 ms. It
    /// waits for the exit: run it on the blocking pool.
    private static func stop(_ process: Process, exited: DispatchSemaphore, graceful: Bool) {
        guard process.isRunning else { return }
        if graceful {
            kill(process.processIdentifier, SIGTERM)
            if exited.wait(timeout: .now() + .milliseconds(20)) == .success { return }
        }
        kill(process.processIdentifier, SIGKILL)
        exited.wait()
    }
}
