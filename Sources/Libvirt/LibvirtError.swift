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
    public static let noCheckpoint = Int(VIR_ERR_NO_DOMAIN_CHECKPOINT.rawValue)
    public static let agentUnresponsive = Int(VIR_ERR_AGENT_UNRESPONSIVE.rawValue)
    public static let agentUnsynced = Int(VIR_ERR_AGENT_UNSYNCED.rawValue)
    public static let noSupport = Int(VIR_ERR_NO_SUPPORT.rawValue)
    public static let operationInvalid = Int(VIR_ERR_OPERATION_INVALID.rawValue)

    /// The calling thread's last libvirt error (libvirt keeps it per thread,
    /// so this is read on the thread that made the failed call).
    static func last(doing action: String) -> LibvirtError {
        guard let error = virGetLastError() else { return LibvirtError(code: -1, message: "\(action) failed") }
        let message = error.pointee.message.map { String(cString: $0) } ?? "unknown error"
        return LibvirtError(code: Int(error.pointee.code), message: "\(action): \(message)")
    }
}
