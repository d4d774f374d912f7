import Foundation

/// A QEMU guest agent reached through the host end of its channel (a QMP
/// VM's `agent_socket`), which freezes the guest's filesystems for a backup.
struct QemuGuestAgent: FreezableGuest {
    let connection: QMPConnection

    static func open(_ socket: String) async throws -> QemuGuestAgent {
        let connection = try await QMPConnection.openGuestAgent(socket)
        // A freeze first flushes what the guest has not written yet: longer than a sync.
        connection.setTimeout(.seconds(30))
        return QemuGuestAgent(connection: connection)
    }

    func freezeFilesystems() async throws -> Int {
        try await connection.execute("guest-fsfreeze-freeze", as: Int.self)
    }

    func thawFilesystems() async throws -> Int {
        // A freeze that timed out may answer late: its answer must not be taken for the thaw's.
        try await connection.synchronize()
        return try await connection.execute("guest-fsfreeze-thaw", as: Int.self)
    }

    func mayHaveFrozen(after error: any Error) -> Bool { (error as? QMPConnection.Failure)?.errorClass == "io" }
}
