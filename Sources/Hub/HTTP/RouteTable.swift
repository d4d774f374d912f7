import HTTPTypes
import Hummingbird
import HummingbirdCore
import SendenseCore
import Synchronization

/// Who may call a route.
public enum RouteAccess: Sendable, Hashable {
    /// No token needed (`GET /health`, `POST /auth/login`).
    case anonymous
    /// A valid token of a user with at least this role.
    case role(UserRole)
}

/// A served route as the OpenAPI document names it: `/api/v1/users/{id}`.
public struct ServedRoute: Sendable, Hashable {
    public var method: HTTPRequest.Method
    public var path: String
    public var access: RouteAccess
}

/// Every route the hub serves, recorded as it is registered. It lets the
/// error middleware tell "wrong method" (405) from "no such path" (404) and
/// lets a test hold the OpenAPI document to what is really served.
public final class RouteRegistry: Sendable {
    private let served = Mutex<[ServedRoute]>([])

    public init() {}

    public var routes: [ServedRoute] { served.withLock { $0 } }

    func record(_ route: ServedRoute) { served.withLock { $0.append(route) } }

    /// Methods served for a concrete request path, empty when none matches.
    /// Like the router, a literal segment wins over a parameter: `/restore/mounts`
    /// is that route's alone, though `/restore/{mount_id}` would also fit it.
    func methods(matching path: String) -> [HTTPRequest.Method] {
        let parts = Self.segments(path)
        var best: [Bool]?
        var methods: [HTTPRequest.Method] = []
        for route in routes {
            let template = Self.segments(route.path)
            guard template.count == parts.count,
                  zip(template, parts).allSatisfy({ $0.hasPrefix("{") || $0 == $1 }) else { continue }
            let literal = template.map { !$0.hasPrefix("{") }
            if best.map({ Self.isMoreSpecific(literal, than: $0) }) ?? true {
                best = literal
                methods = []
            }
            if literal == best, !methods.contains(route.method) { methods.append(route.method) }
        }
        return methods
    }

    /// The first segment where the two differ decides: a literal beats a parameter.
    private static func isMoreSpecific(_ candidate: [Bool], than other: [Bool]) -> Bool {
        for (mine, theirs) in zip(candidate, other) where mine != theirs { return mine }
        return false
    }

    static func segments(_ path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: true)
    }
}

/// Registers routes on the router with their access rule enforced before the
/// handler runs: a route cannot be added without saying who may call it.
struct RouteTable {
    let router: Router<HubContext>
    let registry: RouteRegistry
    let authenticator: Authenticator
    /// Prefix for every path given to `add`, e.g. `/api/v1`.
    var prefix: String

    /// - Parameter repeatable: the query parameters the route reads as lists
    ///   (`?select=a&select=b`); any other given twice is a 400, since a
    ///   route reads one value and would silently drop the rest.
    func add<Output: ResponseGenerator>(
        _ method: HTTPRequest.Method,
        _ path: String,
        _ access: RouteAccess,
        repeatable: Set<Substring> = [],
        _ handler: @escaping @Sendable (Request, HubContext) async throws -> Output
    ) {
        let fullPath = prefix + path
        registry.record(ServedRoute(method: method, path: fullPath, access: access))
        let authenticator = self.authenticator
        router.on(RouterPath(Self.hummingbirdPath(fullPath)), method: method) { request, context in
            var context = context
            if case .role(let required) = access {
                context.user = try await authenticator.authenticate(request, requiring: required)
            }
            if let twice = Self.repeatedKey(request.uri.queryParameters, allowed: repeatable) {
                throw APIError.badRequest("query parameter \(twice) is given more than once")
            }
            return try await handler(request, context)
        }
    }

    static func repeatedKey(_ query: FlatDictionary<Substring, Substring>, allowed: Set<Substring>) -> Substring? {
        var seen = Set<Substring>()
        for (key, _) in query where !allowed.contains(key) && !seen.insert(key).inserted { return key }
        return nil
    }

    /// `/users/{id}` → `/users/:id`.
    static func hummingbirdPath(_ path: String) -> String {
        RouteRegistry.segments(path).map { segment in
            segment.hasPrefix("{") && segment.hasSuffix("}") ? ":" + segment.dropFirst().dropLast() : String(segment)
        }.reduce("") { $0 + "/" + $1 }
    }
}
