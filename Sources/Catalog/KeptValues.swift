import Synchronization

/// Values built from some catalog tables (a page of a list, encoded or not),
/// kept between requests while `changes` says those tables have not moved, and
/// for `maxAge` at most (another process's commits are not counted). At most
/// `capacity` keys are kept; the stale and then the oldest go first.
///
/// Requests that miss together share one build (eleven clients each reading a
/// thousand VMs at once made the slowest answer 25 ms); a build that fails is
/// not kept. A commit during a build moves the count, so what it read is
/// never kept past that commit: the next request builds anew.
public final class KeptValues<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Entry {
        let changeCount: UInt64
        let builtAt: ContinuousClock.Instant
        let value: Task<Value, any Error>

        func isCurrent(_ changeCount: UInt64, at now: ContinuousClock.Instant, maxAge: Duration) -> Bool {
            self.changeCount == changeCount && now - builtAt < maxAge
        }
    }

    private let changes: TableChanges
    private let maxAge: Duration
    private let capacity: Int
    private let entries = Mutex<[Key: Entry]>([:])

    public init(changes: TableChanges, maxAge: Duration = .seconds(2), capacity: Int = 16) {
        self.changes = changes
        self.maxAge = maxAge
        self.capacity = max(1, capacity)
    }

    /// The value kept for `key`, or what `build` makes now.
    public func value(for key: Key, _ build: @escaping @Sendable () async throws -> Value) async throws -> Value {
        guard let changeCount = changes.count else { return try await build() }  // changes cannot be seen: keep nothing
        let now = ContinuousClock.now
        let value = entries.withLock { entries in
            if let entry = entries[key], entry.isCurrent(changeCount, at: now, maxAge: maxAge) { return entry.value }
            if entries[key] == nil, entries.count >= capacity {
                entries = entries.filter { $0.value.isCurrent(changeCount, at: now, maxAge: maxAge) }
                if entries.count >= capacity, let oldest = entries.min(by: { $0.value.builtAt < $1.value.builtAt })?.key {
                    entries[oldest] = nil
                }
            }
            let value = Task { try await build() }
            entries[key] = Entry(changeCount: changeCount, builtAt: now, value: value)
            return value
        }
        do {
            return try await value.value
        } catch {
            entries.withLock { if $0[key]?.value == value { $0[key] = nil } }
            throw error
        }
    }
}
