import Catalog
import Hummingbird
import SendenseAPI
import Synchronization

/// One encoded answer kept between requests while the catalog tables it was
/// built from do not change: the list of every VM (a thousand VMs took 7 ms
/// of CPU to read and encode; at 200 requests a second that is most of two
/// cores). Kept for `maxAge` at most, for changes another process makes.
final class KeptResponseBody: Sendable {
    private struct Kept {
        let changeCount: UInt64
        let builtAt: ContinuousClock.Instant
        let body: Task<ByteBuffer, any Error>
    }

    private let changes: TableChanges
    private let maxAge: Duration
    private let kept = Mutex<Kept?>(nil)

    init(changes: TableChanges, maxAge: Duration = .seconds(2)) {
        self.changes = changes
        self.maxAge = maxAge
    }

    /// The kept body, or `build`'s answer encoded. Requests that miss together
    /// share one build (eleven clients each building a thousand VMs at once
    /// made the slowest answer 25 ms); a build that fails is not kept.
    func response(_ build: @escaping @Sendable () async throws -> some Encodable & Sendable) async throws -> Response {
        guard let changeCount = changes.count else {  // changes cannot be seen: keep nothing
            return try APIResponseEncoder.response(encoding: try await build())
        }
        let now = ContinuousClock.now
        let body = kept.withLock { kept in
            // A commit during the build moves the count: the next request builds anew.
            if let kept, kept.changeCount == changeCount, now - kept.builtAt < maxAge { return kept.body }
            let body = Task { ByteBuffer(bytes: try APIJSON.encode(try await build())) }
            kept = Kept(changeCount: changeCount, builtAt: now, body: body)
            return body
        }
        do {
            return APIResponseEncoder.response(try await body.value)
        } catch {
            kept.withLock { if $0?.body == body { $0 = nil } }
            throw error
        }
    }
}
