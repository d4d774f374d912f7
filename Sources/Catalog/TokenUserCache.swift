import Foundation
import Synchronization

/// The users of recently seen live tokens, so that an authenticated request
/// does not go to the catalog's reader pool before its own work (a thread hop
/// and a query: a third of a short list request's cost under load).
///
/// Correctness rests on two rules:
/// - every commit this process makes to `users` or `api_tokens` (log out,
///   revoke, role change, password change, deletion) moves `changes` before
///   the write returns, which empties the cache, so the hub's own changes take
///   effect at once; a lookup that read the catalog before such a commit does
///   not store what it read;
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
        /// The `changes` count the entries were read at.
        var generation: UInt64 = 0
        var entries: [String: Entry] = [:]
    }

    /// Live tokens are one per login; a hub with more than this many in use
    /// at once starts over rather than grow.
    static let capacity = 10_000

    let recheckAfter: Duration
    /// This process's commits to `users` and `api_tokens`.
    let changes: TableChanges
    private let state = Mutex(State())

    init(recheckAfter: Duration, changes: TableChanges) {
        self.recheckAfter = recheckAfter
        self.changes = changes
    }

    /// The cached user of `hash`, if read recently and the token has not expired.
    func user(forTokenHash hash: String, now: Date) -> UserRecord? {
        let generation = changes.count
        return state.withLock { state in
            guard let generation, generation == state.generation else {
                state.entries.removeAll()
                return nil
            }
            guard let entry = state.entries[hash] else { return nil }
            guard entry.expiresAt > now, ContinuousClock.now - entry.readAt < recheckAfter else {
                state.entries[hash] = nil
                return nil
            }
            return entry.user
        }
    }

    /// Keeps what a lookup read, unless the tables changed since it began
    /// (`generation`: `changes.count` taken before reading the catalog).
    func store(_ entry: Entry, forTokenHash hash: String, readInGeneration generation: UInt64?) {
        guard let generation, changes.count == generation else { return }
        state.withLock { state in
            if state.generation != generation || state.entries.count >= Self.capacity {
                state.entries.removeAll()
                state.generation = generation
            }
            state.entries[hash] = entry
        }
    }
}
