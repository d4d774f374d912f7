import Synchronization

/// An operation that did not answer in time.
public struct DeadlineExceeded: Error, CustomStringConvertible {
    public let what: String
    public let limit: Duration
    public var description: String { "\(what) did not answer within \(limit)" }
}

/// Answers what `operation` answers, or throws `DeadlineExceeded` once
/// `limit` has passed, whichever comes first. On time-out the operation is
/// cancelled and left to end on its own: unlike a task group, this does not
/// wait for it, so a call stuck where cancellation cannot reach (a read
/// from a hung disk) still gets an answer. For probes such as `/health`,
/// which must say "stuck" instead of being stuck.
public func withDeadline<T: Sendable>(
    _ limit: Duration, _ what: String, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let race = DeadlineRace<T>()
    return try await withCheckedThrowingContinuation { continuation in
        race.start(continuation)
        let work = Task {
            do { race.finish(.success(try await operation())) } catch { race.finish(.failure(error)) }
        }
        race.timer(Task {
            try await Task.sleep(for: limit)
            race.finish(.failure(DeadlineExceeded(what: what, limit: limit)))
            work.cancel()
        })
    }
}

/// The first of the operation and the timer to end answers; the timer is
/// stopped when the operation wins.
private final class DeadlineRace<T: Sendable>: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<T, any Error>?, timer: Task<Void, any Error>?, done: Bool)>((nil, nil, false))

    func start(_ continuation: CheckedContinuation<T, any Error>) {
        state.withLock { $0.continuation = continuation }
    }

    func timer(_ task: Task<Void, any Error>) {
        let finished = state.withLock { state in
            if !state.done { state.timer = task }
            return state.done
        }
        if finished { task.cancel() }
    }

    func finish(_ result: Result<T, any Error>) {
        let (continuation, timer) = state.withLock { state in
            defer { state = (nil, nil, true) }
            return (state.continuation, state.timer)
        }
        timer?.cancel()
        continuation?.resume(with: result)
    }
}
