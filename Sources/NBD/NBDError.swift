/// NBD failures, each with words an admin can act on.
public enum NBDError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidEndpoint(String)
    case connectFailed(String)
    /// The server broke the protocol: the connection is unusable.
    case protocolViolation(String)
    /// The server refused an option during negotiation.
    case optionRefused(option: String, reply: UInt32, message: String)
    /// The server answered a command with an error (errno-style code).
    case commandFailed(command: String, code: UInt32, message: String)
    case connectionClosed
    case invalidRequest(String)

    public var description: String {
        switch self {
        case .invalidEndpoint(let message): "invalid NBD endpoint: \(message)"
        case .connectFailed(let message): "cannot connect to the NBD server: \(message)"
        case .protocolViolation(let message): "the NBD server broke the protocol: \(message)"
        case .optionRefused(let option, let reply, let message):
            "the NBD server refused \(option) (\(Self.optionReplyName(reply)))\(message.isEmpty ? "" : ": \(message)")"
        case .commandFailed(let command, let code, let message):
            "NBD \(command) failed: \(Self.errorName(code))\(message.isEmpty ? "" : " (\(message))")"
        case .connectionClosed: "the NBD server closed the connection"
        case .invalidRequest(let message): message
        }
    }

    static func optionReplyName(_ reply: UInt32) -> String {
        switch reply & ~NBDProtocol.OptionReply.errorBit {
        case 1: "unsupported"
        case 2: "denied by policy"
        case 3: "invalid"
        case 4: "not supported on this platform"
        case 5: "TLS required"
        case 6: "unknown export"
        case 7: "server shutting down"
        case 8: "block size required"
        case 9: "too big"
        default: "error \(reply & ~NBDProtocol.OptionReply.errorBit)"
        }
    }

    static func errorName(_ code: UInt32) -> String {
        switch code {
        case 1: "EPERM (not permitted)"
        case 5: "EIO (input/output error)"
        case 12: "ENOMEM (out of memory)"
        case 22: "EINVAL (invalid argument)"
        case 28: "ENOSPC (no space left)"
        case 75: "EOVERFLOW (value too large)"
        case 95: "ENOTSUP (not supported)"
        case 108: "ESHUTDOWN (server shutting down)"
        default: "error \(code)"
        }
    }
}
