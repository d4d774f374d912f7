import Synchronization

/// How far a running job has got, written by its work and read by the API:
/// bytes done of a total (restores), or a percentage (prunes). Lock-protected
/// counters, so the data path reports without awaiting anything.
public final class JobProgress: Sendable {
    private let state = Mutex((done: UInt64(0), total: UInt64(0), percent: Double?.none))

    public init() {}

    public var done: UInt64 { state.withLock { min($0.done, $0.total) } }
    public var total: UInt64 { state.withLock { $0.total } }

    /// 0 to 100: the reported percentage, else the share of bytes done.
    public var percent: Double {
        state.withLock { value in
            if let percent = value.percent { return percent }
            return value.total == 0 ? 0 : Double(min(value.done, value.total)) * 100 / Double(value.total)
        }
    }

    func setTotal(_ total: UInt64) { state.withLock { $0.total = total } }
    func add(_ bytes: UInt64) { state.withLock { $0.done += bytes } }

    /// A job that counts in steps rather than bytes; never goes backwards.
    public func report(percent: Double) {
        state.withLock { $0.percent = max($0.percent ?? 0, min(100, percent)) }
    }
}
