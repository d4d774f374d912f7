import GRDB

/// Catalog failures a caller can act on. Anything else is a bug or a broken
/// database file and surfaces as the underlying error.
public enum CatalogError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A row with the same unique value exists (a name taken twice).
    case conflict(String)
    /// No row with that id.
    case notFound(String)
    /// The row being saved names another row that does not exist (a group
    /// member that is no VM). Not `notFound`: that would read as "the row
    /// being saved is gone".
    case unknownReference(String)
    /// The change would break a rule the catalog keeps (the last admin, a
    /// repository that still holds backups).
    case refused(String)

    public var description: String {
        switch self {
        case .conflict(let message), .notFound(let message), .unknownReference(let message), .refused(let message): message
        }
    }
}

extension DatabaseError {
    var isUniqueViolation: Bool {
        resultCode == .SQLITE_CONSTRAINT && extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE
    }
}

/// Runs a write and turns a UNIQUE violation into `.conflict(message)`.
func mapUniqueViolation<T>(_ message: @autoclosure () -> String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as DatabaseError where error.isUniqueViolation {
        throw CatalogError.conflict(message())
    }
}

/// Runs `body`, which updates a row the caller read before: a row another
/// request deleted in between is `notFound`, the answer the caller would
/// have had a moment earlier (GRDB's own error would be a 500).
func mapMissingRow<T>(_ message: @autoclosure () -> String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as RecordError {
        guard case .recordNotFound = error else { throw error }
        throw CatalogError.notFound(message())
    }
}
