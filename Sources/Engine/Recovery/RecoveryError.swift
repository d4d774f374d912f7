import SendenseCore

/// Why an instant recovery cannot start or stop, or what it prevents; the
/// hub maps each to HTTP (`Hub/HTTP/ErrorMapping.swift`).
public enum RecoveryError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A request field the hub cannot accept.
    case invalid(String)
    case notFound(String)
    /// The point or the host cannot run the VM (no stored configuration, a remote host, no KVM).
    case notRecoverable(String)
    /// A domain (or vCenter VM) of that name exists, or another session is to make one.
    case nameTaken(String)
    /// The session has ended (or is ending) already.
    case notActive(String, RecoveryState)
    /// A running session reads this point (or one it builds on): deleting or merging it would pull its disks away.
    case pointInUse(backupID: String, recoveryID: String)
    /// The libvirt daemon could not be reached.
    case hostUnreachable(String)
    /// The disks or the VM did not start; nothing of the attempt remains.
    case startFailed(String)

    public var description: String {
        switch self {
        case .invalid(let message), .notRecoverable(let message), .hostUnreachable(let message): message
        case .notFound(let id): "recovery not found: recovery_id=\(id)"
        case .nameTaken(let name): "a VM named \(name) exists where it would be made (or is being made); choose another name"
        case .notActive(let id, let state): "recovery \(id) is \(state.rawValue)"
        case .pointInUse(let backupID, let recoveryID):
            "backup \(backupID) is in use by instant recovery \(recoveryID) (its VM runs from it); stop the recovery first"
        case .startFailed(let message): "the recovered VM did not start: \(message)"
        }
    }
}
