import Foundation
import GRDB
import Synchronization

/// The users of recently seen live tokens, so that an authenticated request
/// does not go to the catalog's reader pool before its own work (a thread hop
/// and a query: a third of a short list request's cost under load).
///
/// Correctness rests on two rules:
/// - every commit this process makes to `users` or `api_tokens` (log out,
///   revoke, role change, password change, deletion) empties the cache before
///   the write returns, so the hub's own changes take effect at once; a lookup
///   that read the catalog before such a commit does not store what it read;
/// - another process may change those tables too (`sendense admin
///   reset-password` works while the hub runs): an entry is trusted for
///   `recheckAfter` at most, then read again.
/// A token's own expiry is checked on every hit.
final class TokenUserCache: Sendable {
    struct Entry {
        let user: UserRecord
        let expiresAt: Date
        let readAt: ContinuousClock.Instant
    }

    private struct State {
        var generation: UInt64 = 0
        var entries: [String: Entry] = [:]
        var disabled = false
    }

    /// Live tokens are one per login; a hub with more than this many in use
    /// at once starts over rather than grow.
    static let capacity = 10_000

    let recheckAfter: Duration
    private let state = Mutex(State())

    init(recheckAfter: Duration) {
        self.recheckAfter = recheckAfter
    }

    /// The cached user of `hash`, if read recently and the token has not expired.
    func user(forTokenHash hash: String, now: Date) -> UserRecord? {
        state.withLock { state in
            guard let entry = state.entries[hash] else { return nil }
            guard entry.expiresAt > now, ContinuousClock.now - entry.readAt < recheckAfter else {
                state.entries[hash] = nil
                return nil
            }
            return entry.user
        }
    }

    /// Taken before reading the catalog, handed to `store`.
    var generation: UInt64 {
        state.withLock { $0.generation }
    }

    /// Keeps what a lookup read, unless the tables changed since it began.
    func store(_ entry: Entry, forTokenHash hash: String, readInGeneration generation: UInt64) {
        state.withLock { state in
            guard state.generation == generation, !state.disabled else { return }
            if state.entries.count >= Self.capacity { state.entries.removeAll() }
            state.entries[hash] = entry
        }
    }

    func invalidate() {
        state.withLock { state in
            state.generation &+= 1
            state.entries.removeAll()
        }
    }

    /// Empties the cache on every commit of `pool`'s writer that touched
    /// users or tokens; runs on the writer's queue, before that write returns.
    func observe(_ pool: DatabasePool) -> AnyDatabaseCancellable {
        DatabaseRegionObservation(tracking: Table(UserRecord.databaseTableName), Table(APITokenRecord.databaseTableName))
            .start(in: pool, onError: { [weak self] _ in
                // An observation that fails can no longer be trusted to empty
                // the cache: stop caching (every lookup reads the catalog).
                self?.disable()
            }, onChange: { [weak self] _ in
                self?.invalidate()
            })
    }

    private func disable() {
        state.withLock { state in
            state.disabled = true
            state.entries.removeAll()
        }
    }
}
