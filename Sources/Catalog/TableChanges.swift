import GRDB
import Synchronization

/// Counts this process's commits to some tables, for what the hub keeps in
/// memory from them (a token's user, the encoded list of every VM): a kept
/// thing is tagged with the count it was read at and thrown away once the
/// count has moved. The count moves on the writer's queue, before the write
/// returns, so the hub's own changes show at once; what was read before a
/// commit is never kept past it (read the count first, then the catalog).
///
/// Another process's commits are not seen: what is kept must also have an
/// age limit (`sendense admin reset-password` changes a user while the hub runs).
public final class TableChanges: Sendable {
    /// nil once the observation failed: then nothing may be kept.
    private let state = Mutex<UInt64?>(0)

    /// The count now, or nil when changes can no longer be seen.
    public var count: UInt64? { state.withLock { $0 } }

    init() {}

    /// Counts every commit of `pool`'s writer that touched `tables`.
    func observe(_ pool: DatabasePool, tables: [String]) -> AnyDatabaseCancellable {
        DatabaseRegionObservation(tracking: tables.map { Table($0) })
            .start(in: pool, onError: { [weak self] _ in
                self?.state.withLock { $0 = nil }
            }, onChange: { [weak self] _ in
                self?.state.withLock { count in count = count.map { $0 &+ 1 } }
            })
    }
}
