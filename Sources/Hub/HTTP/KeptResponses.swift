import Catalog
import Hummingbird
import SendenseAPI

/// A list route's encoded answers, kept while the catalog tables they were
/// read from do not change (`Catalog.KeptValues`, 2 s at most), keyed by
/// what the request asked. Reading and encoding a page was most of what a
/// list cost (a thousand VMs: 7 ms of CPU; a hundred flows: 3.8 ms), and a
/// dashboard asks for the same pages again and again.
struct KeptResponses<Key: Hashable & Sendable>: Sendable {
    private let bodies: KeptValues<Key, ByteBuffer>

    init(changes: TableChanges) {
        bodies = KeptValues(changes: changes)
    }

    func response(for key: Key, _ build: @escaping @Sendable () async throws -> some Encodable & Sendable) async throws -> Response {
        APIResponseEncoder.response(try await bodies.value(for: key) { ByteBuffer(bytes: try APIJSON.encode(try await build())) })
    }
}

/// The key of a route that takes no parameters.
struct NoParameters: Hashable, Sendable {}

extension KeptResponses where Key == NoParameters {
    func response(_ build: @escaping @Sendable () async throws -> some Encodable & Sendable) async throws -> Response {
        try await response(for: NoParameters(), build)
    }
}
