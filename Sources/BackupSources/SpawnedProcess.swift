import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A child process the hub starts and reaps itself (posix_spawn, waitpid),
/// for the long-lived ones of a backup: NBD servers and SSH tunnels.
///
/// Not Foundation's `Process`: on Linux it learns that a child ended when a
/// socket the child inherited reads end-of-file, then waits for that child,
/// blocking, on the one thread that serves every `Process` of the program.
/// A child that closes its inherited descriptors as it starts (ssh, sshd do)
/// but runs on parks that thread until it ends, and no other `Process`'s end
/// is noticed meanwhile; a child that hands the socket to a daemon is never
/// seen to end. This one inherits nothing but /dev/null and a pipe for its
/// standard error.
final class SpawnedProcess: @unchecked Sendable {
    let pid: pid_t
    let executable: String
    private let errors: Int32
    private let lock = NSLock()
    private var status: Int32?

    init(executable: String, arguments: [String], environment: [String: String]) throws {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw SpawnError(executable: executable, code: errno) }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(ends[0], F_SETFL, fcntl(ends[0], F_GETFL) | O_NONBLOCK)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, ends[1], STDERR_FILENO)
        _ = spawnCloseFrom(&actions, STDERR_FILENO + 1)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The hub's blocked signals are not the child's. Its own process group:
        // a Ctrl-C or hang-up meant for the hub reaches only the hub, which stops it.
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))
        var pid: pid_t = 0
        let variables = environment.map { "\($0.key)=\($0.value)" }
        let result = Self.withCStrings([executable] + arguments) { argv in
            Self.withCStrings(variables) { envp in posix_spawn(&pid, executable, &actions, &attributes, argv, envp) }
        }
        close(ends[1])
        guard result == 0 else {
            close(ends[0])
            throw SpawnError(executable: executable, code: result)
        }
        self.pid = pid
        self.executable = executable
        errors = ends[0]
    }

    deinit { close(errors) }

    /// Whether it has not ended yet (reaping it once it has).
    var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        guard status == nil else { return false }
        var raw: Int32 = 0
        switch waitpid(pid, &raw, WNOHANG) {
        case 0: return true
        case pid: status = raw
        default: status = -1  // reaped by a wait() on another thread
        }
        return false
    }

    func signal(_ number: Int32) {
        if isRunning { kill(pid, number) }
    }

    /// Waits for its end, blocking: call it on the blocking pool.
    func wait() {
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) == -1 && errno == EINTR {}
        lock.lock()
        if status == nil { status = raw }
        lock.unlock()
    }

    /// Waits for its end (blocking) and answers its exit status; -1 when a signal ended it.
    func waitForStatus() -> Int32 {
        wait()
        lock.lock()
        defer { lock.unlock() }
        guard let raw = status, raw & 0x7f == 0 else { return -1 }
        return (raw >> 8) & 0xff
    }

    /// Sends `first`; kills it if it has not ended `grace` later; waits for its end (blocking).
    func stop(_ first: Int32 = SIGTERM, grace: Duration = .milliseconds(20)) {
        signal(first)
        let deadline = ContinuousClock.now + grace
        while isRunning, ContinuousClock.now < deadline { usleep(1000) }
        signal(SIGKILL)
        wait()
    }

    /// What it wrote on its standard error so far (64 KiB at most).
    func errorOutput() -> String {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = read(errors, &buffer, buffer.count)
        return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
    }

    private static func withCStrings<Result>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> Result) -> Result {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { pointers.forEach { free($0) } }
        return body(pointers)
    }
}

struct SpawnError: Error, CustomStringConvertible, Sendable {
    var executable: String
    var code: Int32
    var description: String { "cannot start \(executable): \(String(cString: strerror(code)))" }
}

/// glibc's (2.34+) posix_spawn_file_actions_addclosefrom_np, which Swift's
/// Glibc module does not declare: the child closes every descriptor from
/// `from` up, whatever the hub has open at that instant.
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func spawnCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) -> Int32
