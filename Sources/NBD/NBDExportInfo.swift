/// What the server told about the export during negotiation.
public struct NBDExportInfo: Sendable, Equatable {
    public var size: UInt64
    public var transmissionFlags: UInt16
    public var minimumBlockSize: UInt32 = 1
    public var preferredBlockSize: UInt32 = 4096
    /// The largest request payload the server accepts (32 MiB when it does not say).
    public var maximumBlockSize: UInt32 = 32 << 20
    public var structuredReplies: Bool
    /// Negotiated meta contexts by name (`base:allocation`, `qemu:dirty-bitmap:NAME`).
    public var metaContexts: [String: UInt32]

    public var isReadOnly: Bool { transmissionFlags & NBDProtocol.TransmissionFlag.readOnly != 0 }
    public var canFlush: Bool { transmissionFlags & NBDProtocol.TransmissionFlag.sendFlush != 0 }
    public var canFUA: Bool { transmissionFlags & NBDProtocol.TransmissionFlag.sendFUA != 0 }
    public var canTrim: Bool { transmissionFlags & NBDProtocol.TransmissionFlag.sendTrim != 0 }
    public var canWriteZeroes: Bool { transmissionFlags & NBDProtocol.TransmissionFlag.sendWriteZeroes != 0 }
}

/// One block status descriptor: `length` bytes with the context's flags
/// (for `base:allocation`: 1 = hole, 2 = reads as zeros; for a dirty
/// bitmap: 1 = dirty).
public struct NBDExtent: Sendable, Equatable {
    public var offset: UInt64
    public var length: UInt64
    public var flags: UInt32

    public init(offset: UInt64, length: UInt64, flags: UInt32) {
        self.offset = offset
        self.length = length
        self.flags = flags
    }

    public static let hole: UInt32 = 1
    public static let zero: UInt32 = 2
    public static let dirty: UInt32 = 1
}
