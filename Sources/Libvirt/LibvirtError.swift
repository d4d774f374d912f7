import CLibvirt

/// What libvirt said when a call failed.
public struct LibvirtError: Error, Equatable, Sendable, CustomStringConvertible {
    /// libvirt's `virErrorNumber` (e.g. VIR_ERR_NO_DOMAIN = 42).
    public var code: Int
    public var message: String

    public init(code: Int, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    public static let noDomain = Int(VIR_ERR_NO_DOMAIN.rawValue)

    /// The guest agent did not answer in time: the command may still have
    /// run in the guest (a freeze must then be undone).
    public var agentMayHaveActed: Bool {
        [VIR_ERR_AGENT_UNRESPONSIVE, VIR_ERR_AGENT_UNSYNCED].map { Int($0.rawValue) }.contains(code)
    }

    /// The calling thread's last libvirt error (libvirt keeps it per thread,
    /// so this is read on the thread that made the failed call).
    static func last(doing action: String) -> LibvirtError {
        guard let error = virGetLastError() else { return LibvirtError(code: -1, message: "\(action) failed") }
        let message = error.pointee.message.map { String(cString: $0) } ?? "unknown error"
        return LibvirtError(code: Int(error.pointee.code), message: "\(action): \(message)")
    }
}
