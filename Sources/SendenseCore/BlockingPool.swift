import Foundation

/// The one place where work that blocks its thread runs: system calls that
/// may wait (files on a network share, `statfs`, a child process's exit),
/// libtsk and libarchive, re-reading a disk, bcrypt, SQLite calls GRDB only
/// offers synchronously.
///
/// Why not Swift's cooperative pool: it has one thread per core (two here).
/// A task that blocks one of them stops every other task scheduled there;
/// when the thing it waits for needs a cooperative thread itself (a GRDB
/// reader released by an async task that must resume first), nothing runs
/// again: the hub hung for good that way under 32 concurrent requests.
///
/// Why not a fixed pool (NIO's has one thread per core): a blocked call —
/// a hung NFS server, a slow disk — must not hold up the calls behind it.
/// A thread is started whenever work arrives and none is idle, up to
/// `maxThreads`; idle threads end after `idleLifetime`. Beyond the cap work
/// waits its turn, which only happens when that many calls are stuck at once.
///
/// It is also a `TaskExecutor`: a long job whose data path is built of
/// blocking calls (a backup writing its images) runs its tasks here with
/// `Task(executorPreference: BlockingPool.shared)`, away from the threads
/// that answer requests.
public final class BlockingPool: TaskExecutor, @unchecked Sendable {
    // Unchecked: every stored var is guarded by `condition`.
    public static let shared = BlockingPool(maxThreads: 128)

    /// Where long jobs run (backups, restores, merges): threads at nice 10,
    /// so the kernel gives the threads that answer requests the CPU first.
    /// Four backups on two cores once left none for the API: GET /health
    /// took 180 ms at 16 req/s (`make bench`, BENCH=api).
    public static let jobs = BlockingPool(maxThreads: 64, niceness: ThreadNiceness.jobs)

    /// The image writers' writes (`DataSink`), at the jobs' niceness: on
    /// Dispatch's threads they ran at nice 0, beside the requests. Not `jobs`
    /// itself: a job's thread waits in `DataSink` for a write to end, and that
    /// write must not need a thread of the pool the waiters may fill.
    public static let imageWrites = BlockingPool(maxThreads: 64, niceness: ThreadNiceness.jobs)

    private enum Work {
        case closure(@Sendable () -> Void)
        case job(UnownedJob)
    }

    private let maxThreads: Int
    private let idleLifetime: TimeInterval
    private let niceness: Int32
    private let condition = NSCondition()
    private var pending: [Work] = []
    private var head = 0
    private var threads = 0
    private var idle = 0

    /// - Parameter niceness: each of its threads' nice value (Linux
    ///   schedules threads one by one); 0 leaves them as they start.
    public init(maxThreads: Int, idleLifetime: TimeInterval = 30, niceness: Int32 = 0) {
        self.maxThreads = maxThreads
        self.idleLifetime = idleLifetime
        self.niceness = niceness
    }

    /// Runs `body` on a pool thread and answers what it returns or throws.
    /// The caller's task is suspended meanwhile, its thread free.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            submit(.closure { continuation.resume(with: Result { try body() }) })
        }
    }

    /// `run` for work that cannot fail.
    public func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            submit(.closure { continuation.resume(returning: body()) })
        }
    }

    /// Runs `body` on a pool thread, without waiting for it.
    public func execute(_ body: @escaping @Sendable () -> Void) {
        submit(.closure(body))
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        submit(.job(UnownedJob(job)))
    }

    /// Threads alive now (for tests).
    public var threadCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return threads
    }

    private func submit(_ work: Work) {
        condition.lock()
        pending.append(work)
        let waiting = pending.count - head
        let start = waiting > idle && threads < maxThreads
        if start { threads += 1 }
        condition.signal()
        condition.unlock()
        if start {
            let thread = Thread { [self] in
                ThreadNiceness.lowerCurrentThread(by: niceness)
                workerLoop()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    private func workerLoop() {
        condition.lock()
        while true {
            while head == pending.count {
                idle += 1
                let signalled = condition.wait(until: Date(timeIntervalSinceNow: idleLifetime))
                idle -= 1
                if !signalled, head == pending.count {
                    threads -= 1
                    condition.unlock()
                    return
                }
            }
            let work = pending[head]
            head += 1
            if head == pending.count {
                pending.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 1024, head * 2 >= pending.count {
                pending.removeFirst(head)
                head = 0
            }
            condition.unlock()
            switch work {
            case .closure(let body): body()
            case .job(let job): job.runSynchronously(on: asUnownedTaskExecutor())
            }
            condition.lock()
        }
    }
}
