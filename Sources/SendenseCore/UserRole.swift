/// What a user may do. Roles are ordered: each one can do everything the one
/// before it can.
public enum UserRole: String, Codable, Sendable, CaseIterable, Comparable {
    /// Reads everything, changes nothing.
    case viewer
    /// Also runs backups and restores.
    case `operator`
    /// Everything, including users, credentials and repositories.
    case admin

    private var rank: Int {
        switch self {
        case .viewer: 0
        case .operator: 1
        case .admin: 2
        }
    }

    public static func < (lhs: UserRole, rhs: UserRole) -> Bool { lhs.rank < rhs.rank }

    /// True when a user with this role may call a route that requires `required`.
    public func satisfies(_ required: UserRole) -> Bool { self >= required }
}
