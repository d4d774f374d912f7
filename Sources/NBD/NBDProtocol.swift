/// Numbers of the NBD protocol (NetworkBlockDevice/nbd doc/proto.md):
/// fixed newstyle negotiation, then transmission with simple and structured replies.
enum NBDProtocol {
    static let initMagic: UInt64 = 0x4e42_444d_4147_4943  // "NBDMAGIC"
    static let optionMagic: UInt64 = 0x4948_4156_454f_5054  // "IHAVEOPT"
    static let optionReplyMagic: UInt64 = 0x0003_e889_0455_65a9
    static let requestMagic: UInt32 = 0x2560_9513
    static let simpleReplyMagic: UInt32 = 0x6744_6698
    static let structuredReplyMagic: UInt32 = 0x668e_33ef

    enum HandshakeFlag {
        static let fixedNewstyle: UInt16 = 1 << 0
        static let noZeroes: UInt16 = 1 << 1
    }

    enum Option: UInt32 {
        case go = 7
        case structuredReply = 8
        case setMetaContext = 10
    }

    enum OptionReply {
        static let ack: UInt32 = 1
        static let info: UInt32 = 3
        static let metaContext: UInt32 = 4
        static let errorBit: UInt32 = 1 << 31
    }

    enum Info {
        static let export: UInt16 = 0
        static let blockSize: UInt16 = 3
    }

    enum TransmissionFlag {
        static let hasFlags: UInt16 = 1 << 0
        static let readOnly: UInt16 = 1 << 1
        static let sendFlush: UInt16 = 1 << 2
        static let sendFUA: UInt16 = 1 << 3
        static let sendTrim: UInt16 = 1 << 5
        static let sendWriteZeroes: UInt16 = 1 << 6
    }

    enum Command: UInt16 {
        case read = 0
        case write = 1
        case disconnect = 2
        case flush = 3
        case trim = 4
        case writeZeroes = 6
        case blockStatus = 7
    }

    enum CommandFlag {
        static let fua: UInt16 = 1 << 0
        static let noHole: UInt16 = 1 << 1
    }

    enum ReplyType {
        static let none: UInt16 = 0
        static let offsetData: UInt16 = 1
        static let offsetHole: UInt16 = 2
        static let blockStatus: UInt16 = 5
        static let errorBit: UInt16 = 1 << 15
        static let error: UInt16 = errorBit | 1
        static let errorOffset: UInt16 = errorBit | 2
    }

    static let replyFlagDone: UInt16 = 1 << 0

    /// Largest option reply accepted during negotiation (names, infos).
    static let maxOptionReply = 64 * 1024
    /// Largest structured error message accepted.
    static let maxErrorMessage = 4096
}
