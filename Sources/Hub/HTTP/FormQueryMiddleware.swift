import HTTPTypes
import Hummingbird

/// Query strings as browsers and HTML forms encode them: `+` is a space
/// (`application/x-www-form-urlencoded`, what `URLSearchParams` and Python's
/// `urlencode` send), `%2B` a literal plus. Hummingbird decodes only `%XX`,
/// so the query is rewritten once here, before any route reads it, and every
/// route sees `path=/System Volume Information` for `path=/System+Volume+Information`.
struct FormQueryMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let path = request.head.path else { return try await next(request, context) }
        let canonical = FormQuery.canonical(path)
        guard canonical != path else { return try await next(request, context) }
        var head = request.head
        head.path = canonical
        return try await next(Request(head: head, body: request.body), context)
    }
}

enum FormQuery {
    /// `target` (a path with an optional query) with every `+` of its query
    /// spelled `%20`, as routes and signed download links see it.
    /// Scalars, not Characters: a `?` or `+` followed by a combining mark is
    /// one Character to Swift, yet still the byte the URL parser splits at.
    static func canonical(_ target: String) -> String {
        let scalars = target.unicodeScalars
        guard let question = scalars.firstIndex(of: "?"), scalars[question...].contains("+") else { return target }
        var query = String.UnicodeScalarView()
        for scalar in scalars[question...] {
            if scalar == "+" { query.append(contentsOf: "%20".unicodeScalars) } else { query.append(scalar) }
        }
        return String(scalars[..<question]) + String(query)
    }
}
