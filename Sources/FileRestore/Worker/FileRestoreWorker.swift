import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The hub's handle on the worker process that reads one restore point's
/// disk (`sendense flr-worker`, see `FileRestoreWorkerProcess`). Whatever a
/// hostile filesystem does to the parser — crash it, hang it, exhaust its
/// memory — costs that request only: the worker is killed, the request
/// fails with `workerFailed` or `workerTimedOut`, and the next request
/// starts a new worker on the same disk. Requests to one worker run one
/// at a time; its methods block, so callers run them on a blocking pool.
public final class FileRestoreWorker: Sendable {
    public struct Settings: Sendable {
        /// The `sendense` binary (it has the `flr-worker` command).
        public var executable: String
        /// The longest a listing, a lookup or a piece of data may take.
        public var requestTimeout: TimeInterval
        /// The longest opening the disk or sizing a folder may take.
        public var slowRequestTimeout: TimeInterval
        /// The worker's address space (`RLIMIT_AS`); 0: unbounded.
        public var memoryLimitBytes: UInt64

        public init(executable: String = Settings.currentExecutable, requestTimeout: TimeInterval = 60,
                    slowRequestTimeout: TimeInterval = 600, memoryLimitBytes: UInt64 = 2 << 30) {
            self.executable = executable
            self.requestTimeout = requestTimeout
            self.slowRequestTimeout = slowRequestTimeout
            self.memoryLimitBytes = memoryLimitBytes
        }

        /// The program running now: the hub is `sendense hub`.
        public static var currentExecutable: String {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        }
    }

    /// A worker process and the socket to it.
    private struct Running: Sendable {
        let pid: pid_t
        let channel: WorkerChannel
        let generation: Int
    }

    private struct State: Sendable {
        var running: Running?
        /// Stopped for good: the session ended; nothing may start a worker again.
        var closed = false
        var generation = 0
        var restarts = 0
    }

    public let imagePath: String
    /// The restore point's other disks, searched for LVM2 physical volumes.
    public let companionPaths: [String]
    /// The folder the images' backing files must lie in (nil: anywhere).
    public let backingsWithin: String?
    /// What the first worker found on the disk; later ones find the same.
    public let opened: WorkerOpened
    private let settings: Settings
    private let state: Mutex<State>
    private let pages = Mutex(FolderPageCache())

    /// Starts a worker on the image at `imagePath` and waits for it to have
    /// read the disk's partitions and filesystems.
    /// - Throws: `FileRestoreError` (`noFilesystem` for a disk with nothing
    ///   readable, `workerFailed` when the worker dies on it).
    public init(imagePath: String, companionPaths: [String] = [], backingsWithin: String? = nil, settings: Settings) throws {
        self.imagePath = imagePath
        self.companionPaths = companionPaths
        self.backingsWithin = backingsWithin
        self.settings = settings
        let (running, opened) = try Self.spawn(disk: Self.diskArguments(imagePath, companionPaths, backingsWithin), settings: settings, generation: 1)
        self.opened = opened
        state = Mutex(State(running: running, generation: 1))
    }

    deinit {
        let running = state.withLock { $0.running }
        Self.stop(running)
    }

    public var volumes: [RestoreVolume] { opened.volumes }
    public var filesystemType: String { opened.filesystemType }

    /// The worker's process id, when one runs.
    public var processID: Int32? { state.withLock { $0.running?.pid } }
    /// How many times a worker was started again after one failed.
    public var restarts: Int { state.withLock { $0.restarts } }

    // MARK: requests

    /// One page of the folder at `path`: folders first, then by name.
    /// A page asked for again comes from memory: the disk is a restore point's, it never changes.
    public func list(_ path: String, offset: Int, limit: Int) throws -> FolderPage {
        let key = FolderPageCache.Key(path: path, offset: offset, limit: limit)
        if let page = pages.withLock({ $0[key] }) { return page }
        let page = try exchange(.list(path: path, offset: offset, limit: limit), timeout: settings.requestTimeout) { channel, kind, length, deadline in
            guard kind == .data else { throw WorkerChannel.Failure.malformed("a listing answered \(kind)") }
            do {
                return try FolderPage(encoded: try channel.receivePayload(length, until: deadline))
            } catch let error as FileRestoreError {
                throw WorkerChannel.Failure.malformed("a listing's path: \(error)")
            }
        }
        pages.withLock { $0[key] = page }
        return page
    }

    /// The entry at `path`; the root and partition folders are directories.
    public func entry(at path: String) throws -> RestoreEntry {
        try value(.entry(path: path))
    }

    /// Reads a regular file's bytes from `offset` into `buffer` (at most
    /// 4 MiB); answers how many (fewer only at the file's end).
    public func read(_ entry: RestoreEntry, at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try exchange(.read(entry: entry, offset: offset, count: buffer.count), timeout: settings.requestTimeout) { channel, kind, length, deadline in
            guard kind == .data, length <= buffer.count else { throw WorkerChannel.Failure.malformed("a read answered \(kind) of \(length) bytes") }
            try channel.receiveAll(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<length]), until: deadline)
            return length
        }
    }

    /// What downloading these entries would hold (walks folders, reads no data).
    public func contents(of entries: [RestoreEntry]) throws -> DirectoryArchive.Contents {
        try value(.contents(entries: entries), timeout: settings.slowRequestTimeout)
    }

    /// Starts streaming entries as one archive; read it with `next()`.
    public func archive(_ items: [ArchiveItem], format: ArchiveFormat) throws -> WorkerArchive {
        let generation = state.withLock { $0.running?.generation ?? $0.generation + 1 }
        let id: Int = try value(.openArchive(items: items, format: format), generation: generation)
        return WorkerArchive(worker: self, id: id, generation: generation)
    }

    fileprivate func archivePiece(_ id: Int, generation: Int) throws -> [UInt8]? {
        try exchange(.archiveNext(id: id), timeout: settings.requestTimeout, generation: generation) { channel, kind, length, deadline in
            switch kind {
            case .data: return try channel.receivePayload(length, until: deadline)
            case .end: return nil
            default: throw WorkerChannel.Failure.malformed("an archive piece answered \(kind)")
            }
        }
    }

    fileprivate func closeArchive(_ id: Int, generation: Int) {
        _ = try? exchange(.closeArchive(id: id), timeout: settings.requestTimeout, generation: generation, restart: false) { _, _, _, _ in () }
    }

    /// Stops the worker for good (the session ends): a download still in
    /// flight fails, and no request starts another worker.
    public func stop() {
        state.withLock { state in
            state.closed = true
            Self.stop(state.running)
            state.running = nil
        }
    }

    // MARK: the exchange

    private func value<Value: Decodable>(_ request: WorkerRequest, timeout: TimeInterval? = nil, generation: Int? = nil) throws -> Value {
        try exchange(request, timeout: timeout ?? settings.requestTimeout, generation: generation) { channel, kind, length, deadline in
            guard kind == .value else { throw WorkerChannel.Failure.malformed("expected a value, got \(kind)") }
            do {
                return try JSONDecoder().decode(Value.self, from: Data(try channel.receivePayload(length, until: deadline)))
            } catch let error as DecodingError {
                throw WorkerChannel.Failure.malformed("\(error)")
            }
        }
    }

    /// Sends `request` to the worker (started first when none runs) and
    /// reads its answer with `receive`. A `FileRestoreError` the worker
    /// answers is thrown as is; anything else wrong — the worker dead, late,
    /// or talking nonsense — kills it and throws `workerFailed`/`workerTimedOut`.
    /// With `generation`, only the worker of that generation may answer
    /// (an archive lives in one worker).
    private func exchange<Value>(
        _ request: WorkerRequest, timeout: TimeInterval, generation: Int? = nil, restart: Bool = true,
        _ receive: (WorkerChannel, WorkerChannel.Kind, Int, ContinuousClock.Instant) throws -> Value
    ) throws -> Value {
        try state.withLock { state in
            guard !state.closed else { throw FileRestoreError.workerFailed(reason: "the restore session was closed") }
            // A worker that died between requests (killed, out of memory) is
            // replaced before this request, which then does not fail.
            if let idle = state.running, idle.channel.peerIsGone {
                state.running = nil
                Self.stop(idle, exiting: true)
            }
            if state.running == nil {
                guard restart else { throw FileRestoreError.workerFailed(reason: "no worker runs") }
                state.generation += 1
                state.restarts += 1
                state.running = try Self.spawn(disk: Self.diskArguments(imagePath, companionPaths, backingsWithin), settings: settings,
                                               generation: state.generation).running
            }
            guard let running = state.running else { throw FileRestoreError.workerFailed(reason: "no worker runs") }
            if let generation, generation != running.generation {
                throw FileRestoreError.workerFailed(reason: "the worker was restarted since this download began")
            }
            do {
                try running.channel.send(.request, json: request)
                let deadline = ContinuousClock.now + .seconds(timeout)
                let (kind, length) = try running.channel.receiveHeader(until: deadline)
                if kind == .failure {
                    let payload = try running.channel.receivePayload(length, until: deadline)
                    guard let error = try? JSONDecoder().decode(FileRestoreError.self, from: Data(payload)) else {
                        throw WorkerChannel.Failure.malformed("an undecodable failure")
                    }
                    throw error
                }
                return try receive(running.channel, kind, length, deadline)
            } catch let failure as WorkerChannel.Failure {
                state.running = nil
                let exit = Self.stop(running, exiting: failure.isClosed)
                if case .timedOut = failure { throw FileRestoreError.workerTimedOut(seconds: Int(timeout.rounded(.up))) }
                throw FileRestoreError.workerFailed(reason: exit.map { "\(failure); it \($0)" } ?? "\(failure)")
            }
        }
    }

    // MARK: the process

    /// The worker's arguments that name its disk (see `FileRestoreWorkerProcess.run`).
    private static func diskArguments(_ imagePath: String, _ companionPaths: [String], _ backingsWithin: String?) -> [String] {
        ["--image", imagePath] + companionPaths.flatMap { ["--companion", $0] } + (backingsWithin.map { ["--backings-within", $0] } ?? [])
    }

    /// Starts a worker and reads its first answer: what it found on the disk.
    private static func spawn(disk: [String], settings: Settings,
                              generation: Int) throws -> (running: Running, opened: WorkerOpened) {
        var ends: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            throw FileRestoreError.workerFailed(reason: "socketpair: \(String(cString: strerror(errno)))")
        }
        // Room for a whole piece in flight each way, so the worker reads the
        // next piece while the hub takes this one (FORCE: beyond wmem_max, as root).
        for end in ends {
            var size: Int32 = 8 << 20
            for option in [SO_SNDBUFFORCE, SO_RCVBUFFORCE, SO_SNDBUF, SO_RCVBUF] {
                _ = setsockopt(end, SOL_SOCKET, option, &size, socklen_t(MemoryLayout<Int32>.size))
            }
        }
        let arguments = [settings.executable, FileRestoreWorkerProcess.command] + disk
            + ["--memory-limit", String(settings.memoryLimitBytes), "--parent", String(getpid())]
        // No Swift backtrace on a crash: it takes seconds and says nothing the hub needs.
        let environment = ["SWIFT_BACKTRACE=enable=no", "LANG=C.UTF-8"]
        var pid: pid_t = 0
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_adddup2(&actions, ends[1], STDIN_FILENO)
        posix_spawn_file_actions_adddup2(&actions, ends[1], STDOUT_FILENO)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let status = withCStrings(arguments) { argv in
            withCStrings(environment) { envp in posix_spawn(&pid, settings.executable, &actions, &attributes, argv, envp) }
        }
        posix_spawn_file_actions_destroy(&actions)
        posix_spawnattr_destroy(&attributes)
        close(ends[1])
        guard status == 0 else {
            close(ends[0])
            throw FileRestoreError.workerFailed(reason: "cannot start \(settings.executable): \(String(cString: strerror(status)))")
        }
        let running = Running(pid: pid, channel: WorkerChannel(fd: ends[0]), generation: generation)
        do {
            let deadline = ContinuousClock.now + .seconds(settings.slowRequestTimeout)
            let (kind, length) = try running.channel.receiveHeader(until: deadline)
            let payload = Data(try running.channel.receivePayload(length, until: deadline))
            switch kind {
            case .value:
                guard let opened = try? JSONDecoder().decode(WorkerOpened.self, from: payload) else {
                    throw WorkerChannel.Failure.malformed("an undecodable start")
                }
                return (running, opened)
            case .failure:
                let error = (try? JSONDecoder().decode(FileRestoreError.self, from: payload))
                    ?? .workerFailed(reason: "an undecodable failure at start")
                stop(running)
                throw error
            default:
                throw WorkerChannel.Failure.malformed("the worker started with \(kind)")
            }
        } catch let failure as WorkerChannel.Failure {
            let exit = stop(running, exiting: failure.isClosed)
            if case .timedOut = failure {
                throw FileRestoreError.workerTimedOut(seconds: Int(settings.slowRequestTimeout.rounded(.up)))
            }
            throw FileRestoreError.workerFailed(reason: exit.map { "\(failure) while it read the disk; it \($0)" } ?? "\(failure)")
        }
    }

    /// Kills the worker (if still there), reaps it, closes the socket;
    /// answers how it ended ("was killed by SIGSEGV", "exited with status 1").
    @discardableResult
    private static func stop(_ running: Running?, exiting: Bool = false) -> String? {
        guard let running else { return nil }
        close(running.channel.fd)
        var status: Int32 = 0
        // A worker that closed its end is exiting: give it a moment to say how.
        var reaped = waitpid(running.pid, &status, WNOHANG)
        for _ in 0..<(exiting ? 20 : 0) where reaped == 0 {
            usleep(5_000)
            reaped = waitpid(running.pid, &status, WNOHANG)
        }
        let endedItself = reaped == running.pid
        if reaped == 0 {
            kill(running.pid, SIGKILL)
            repeat { reaped = waitpid(running.pid, &status, 0) } while reaped < 0 && errno == EINTR
        }
        guard endedItself else { return nil }
        let signal = status & 0x7f
        if signal != 0 { return "was killed by signal \(signal) (\(String(cString: strsignal(signal))))" }
        return "exited with status \((status >> 8) & 0xff)"
    }
}

/// A folder (or a selection) being streamed as an archive by a worker.
/// One download owns it and reads it piece by piece.
public final class WorkerArchive: Sendable {
    private let worker: FileRestoreWorker
    private let id: Int
    private let generation: Int

    fileprivate init(worker: FileRestoreWorker, id: Int, generation: Int) {
        self.worker = worker
        self.id = id
        self.generation = generation
    }

    /// The next piece of the archive (possibly empty); nil at its end.
    public func next() throws -> [UInt8]? {
        try worker.archivePiece(id, generation: generation)
    }

    /// Drops the archive in the worker (a download stopped early).
    public func close() {
        worker.closeArchive(id, generation: generation)
    }
}

private func withCStrings<Result>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> Result) -> Result {
    var pointers = strings.map { strdup($0) }
    pointers.append(nil)
    defer { pointers.forEach { free($0) } }
    return body(pointers)
}
