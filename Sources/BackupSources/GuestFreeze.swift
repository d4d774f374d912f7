import Libvirt
import SendenseCore

/// A guest whose filesystems its agent can freeze for the instant a point in
/// time is taken (through libvirt, or the agent's own socket).
protocol FreezableGuest: Sendable {
    /// Answers how many filesystems were frozen.
    func freezeFilesystems() async throws -> Int
    /// Answers how many filesystems were thawed.
    @discardableResult func thawFilesystems() async throws -> Int
    /// A freeze that failed this way may have frozen them all the same (the agent timed out): thaw.
    func mayHaveFrozen(after error: any Error) -> Bool
}

extension LibvirtDomain: FreezableGuest {
    func mayHaveFrozen(after error: any Error) -> Bool { (error as? LibvirtError)?.agentMayHaveActed == true }
}

/// The instant of a live backup, frozen when the guest's agent answers: an
/// application-consistent point (filesystems flushed, journals clean), or a
/// crash-consistent one that says why.
enum GuestFreeze {
    /// Attempts to thaw a frozen guest: a guest left frozen stops writing.
    static let thawAttempts = 5

    /// Runs `start` with the guest's filesystems frozen when `guest` can
    /// freeze them, and thaws them right after, whatever `start` did.
    /// `absent` says why a guest of nil is not frozen.
    static func around(_ guest: (any FreezableGuest)?, absent: String = "no guest agent was reached",
                       _ start: () async throws -> Void) async throws -> (PointConsistency, String) {
        guard let guest else {
            try await start()
            return (.crashConsistent, "crash-consistent: \(absent)")
        }
        let frozen: Int
        do {
            frozen = try await guest.freezeFilesystems()
        } catch {
            try await start()
            if guest.mayHaveFrozen(after: error) { await thaw(guest) }
            return (.crashConsistent, "crash-consistent: the guest agent could not freeze the filesystems (\(error))")
        }
        do {
            try await start()
        } catch {
            await thaw(guest)
            throw error
        }
        await thaw(guest)
        return (.applicationConsistent, "application-consistent: the guest agent froze \(frozen) filesystem\(frozen == 1 ? "" : "s")")
    }

    private static func thaw(_ guest: any FreezableGuest) async {
        for attempt in 1...thawAttempts {
            if (try? await guest.thawFilesystems()) != nil { return }
            try? await Task.sleep(for: .milliseconds(200 * attempt))
        }
    }
}
