/// What went wrong talking to vCenter, typed so callers can react (log in
/// again, fall back to a full backup) and carrying vCenter's own words.
public enum VSphereError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A SOAP fault: its vim25 type (`InvalidLogin`, `InvalidArgument`, …), vCenter's message and, for
    /// InvalidArgument, the property it names.
    case fault(SOAPFault)
    /// A task ended in error.
    case taskFailed(task: String, SOAPFault)
    case http(status: Int, message: String)
    case unreachable(String)
    case certificateMismatch(expected: String, presented: String)
    case badResponse(String)
    /// What was asked for (a datastore, a host, a network) is not in this vCenter.
    case notFound(String)

    public var description: String {
        switch self {
        case .fault(let fault): fault.description
        case .taskFailed(let task, let fault): "vCenter task \(task) failed: \(fault.description)"
        case .http(let status, let message): "vCenter answered HTTP \(status)\(message.isEmpty ? "" : ": " + message)"
        case .unreachable(let message): "cannot reach vCenter: \(message)"
        case .certificateMismatch(let expected, let presented):
            "the vCenter certificate does not match the pinned thumbprint (pinned \(expected), presented \(presented))"
        case .badResponse(let message): "unexpected answer from vCenter: \(message)"
        case .notFound(let what): "vCenter has no \(what)"
        }
    }

    /// The session is gone (expired, logged out): log in again.
    public var isNotAuthenticated: Bool {
        if case .fault(let fault) = self { return fault.type == "NotAuthenticated" }
        return false
    }

    /// The object is gone (a removed snapshot, a destroyed VM), said by the call or by its task.
    public var isManagedObjectNotFound: Bool {
        switch self {
        case .fault(let fault), .taskFailed(_, let fault): fault.type == "ManagedObjectNotFound"
        default: false
        }
    }

    public var isInvalidLogin: Bool {
        if case .fault(let fault) = self { return fault.type == "InvalidLogin" }
        return false
    }
}

public struct SOAPFault: Sendable, Equatable, CustomStringConvertible {
    /// The vim25 fault type from the detail's `xsi:type`, or the faultcode when there is none.
    public var type: String
    public var message: String
    public var invalidProperty: String?

    public init(type: String, message: String, invalidProperty: String? = nil) {
        self.type = type
        self.message = message
        self.invalidProperty = invalidProperty
    }

    public var description: String {
        let text = message.isEmpty ? type : message
        return message.isEmpty || message.contains(type) ? text : "\(text) (\(type))"
    }

    /// Reads `<Fault><faultcode/><faultstring/><detail><XFault xsi:type="X">…</detail></Fault>`.
    static func parse(_ fault: SOAPElement) -> SOAPFault {
        let detail = fault["detail"]?.children.first
        let type = detail?.type ?? detail.map { String($0.name.hasSuffix("Fault") ? $0.name.dropLast(5) : Substring($0.name)) }
            ?? fault.text("faultcode") ?? "Fault"
        return SOAPFault(type: type, message: fault.text("faultstring") ?? "", invalidProperty: detail?.text("invalidProperty"))
    }

    /// A task's `info.error` (LocalizedMethodFault): `fault` with its type, `localizedMessage`.
    static func parseLocalized(_ error: SOAPElement) -> SOAPFault {
        let fault = error["fault"]
        return SOAPFault(type: fault?.type ?? "Fault", message: error.text("localizedMessage") ?? "",
                         invalidProperty: fault?.text("invalidProperty"))
    }
}
