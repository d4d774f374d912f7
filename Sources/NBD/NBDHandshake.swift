import NIOCore

/// Fixed newstyle negotiation: structured replies, meta contexts, NBD_OPT_GO.
enum NBDHandshake {
    static func run(
        reader: inout ByteStreamReader, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        exportName: String, metaContexts: [String]
    ) async throws -> NBDExportInfo {
        guard try await reader.readUInt64() == NBDProtocol.initMagic else {
            throw NBDError.protocolViolation("the greeting does not start with NBDMAGIC")
        }
        guard try await reader.readUInt64() == NBDProtocol.optionMagic else {
            throw NBDError.protocolViolation("the server speaks the old-style protocol, which is not supported")
        }
        let serverFlags = try await reader.readUInt16()
        guard serverFlags & NBDProtocol.HandshakeFlag.fixedNewstyle != 0 else {
            throw NBDError.protocolViolation("the server does not offer fixed newstyle negotiation")
        }
        var clientFlags = ByteBuffer()
        clientFlags.writeInteger(UInt32(serverFlags & (NBDProtocol.HandshakeFlag.fixedNewstyle | NBDProtocol.HandshakeFlag.noZeroes)))
        try await outbound.write(clientFlags)

        // Structured replies: needed for block status and sparse reads.
        try await sendOption(.structuredReply, data: ByteBuffer(), outbound: outbound)
        var structured = false
        while true {
            let reply = try await readOptionReply(.structuredReply, reader: &reader)
            if reply.type == NBDProtocol.OptionReply.ack { structured = true; break }
            if reply.type & NBDProtocol.OptionReply.errorBit != 0 { break }
        }
        if !metaContexts.isEmpty && !structured {
            throw NBDError.optionRefused(option: "structured replies", reply: NBDProtocol.OptionReply.errorBit | 1,
                                         message: "needed for block status")
        }

        var contexts: [String: UInt32] = [:]
        if !metaContexts.isEmpty {
            var data = ByteBuffer()
            writeString(exportName, to: &data)
            data.writeInteger(UInt32(metaContexts.count))
            for query in metaContexts { writeString(query, to: &data) }
            try await sendOption(.setMetaContext, data: data, outbound: outbound)
            while true {
                var reply = try await readOptionReply(.setMetaContext, reader: &reader)
                if reply.type == NBDProtocol.OptionReply.ack { break }
                if reply.type & NBDProtocol.OptionReply.errorBit != 0 {
                    throw NBDError.optionRefused(option: "meta contexts \(metaContexts)", reply: reply.type, message: reply.text)
                }
                guard reply.type == NBDProtocol.OptionReply.metaContext, let id = reply.data.readInteger(as: UInt32.self) else {
                    throw NBDError.protocolViolation("unexpected reply \(reply.type) to NBD_OPT_SET_META_CONTEXT")
                }
                contexts[reply.data.readString(length: reply.data.readableBytes) ?? ""] = id
            }
            let missing = metaContexts.filter { contexts[$0] == nil }
            if !missing.isEmpty {
                throw NBDError.optionRefused(option: "meta context \(missing.joined(separator: ", "))",
                                             reply: NBDProtocol.OptionReply.errorBit | 1,
                                             message: "the export does not offer it (a missing bitmap?)")
            }
        }

        var go = ByteBuffer()
        writeString(exportName, to: &go)
        go.writeInteger(UInt16(1))
        go.writeInteger(NBDProtocol.Info.blockSize)
        try await sendOption(.go, data: go, outbound: outbound)
        var info = NBDExportInfo(size: 0, transmissionFlags: 0, structuredReplies: structured, metaContexts: contexts)
        var sawExport = false
        while true {
            var reply = try await readOptionReply(.go, reader: &reader)
            if reply.type == NBDProtocol.OptionReply.ack { break }
            if reply.type & NBDProtocol.OptionReply.errorBit != 0 {
                throw NBDError.optionRefused(option: "export '\(exportName)'", reply: reply.type, message: reply.text)
            }
            guard reply.type == NBDProtocol.OptionReply.info, let kind = reply.data.readInteger(as: UInt16.self) else { continue }
            switch kind {
            case NBDProtocol.Info.export:
                guard let size = reply.data.readInteger(as: UInt64.self), let flags = reply.data.readInteger(as: UInt16.self) else {
                    throw NBDError.protocolViolation("a short NBD_INFO_EXPORT")
                }
                info.size = size
                info.transmissionFlags = flags
                sawExport = true
            case NBDProtocol.Info.blockSize:
                guard let minimum = reply.data.readInteger(as: UInt32.self), let preferred = reply.data.readInteger(as: UInt32.self),
                      let maximum = reply.data.readInteger(as: UInt32.self)
                else { throw NBDError.protocolViolation("a short NBD_INFO_BLOCK_SIZE") }
                info.minimumBlockSize = max(1, minimum)
                info.preferredBlockSize = preferred
                info.maximumBlockSize = max(info.minimumBlockSize, min(maximum, 32 << 20))
            default:
                continue  // infos we did not ask for are ignored, as the spec allows
            }
        }
        guard sawExport else { throw NBDError.protocolViolation("NBD_OPT_GO succeeded without NBD_INFO_EXPORT") }
        return info
    }

    struct OptionReply {
        var type: UInt32
        var data: ByteBuffer
        var text: String { data.getString(at: data.readerIndex, length: data.readableBytes) ?? "" }
    }

    private static func sendOption(_ option: NBDProtocol.Option, data: ByteBuffer, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) async throws {
        var buffer = ByteBuffer()
        buffer.writeInteger(NBDProtocol.optionMagic)
        buffer.writeInteger(option.rawValue)
        buffer.writeInteger(UInt32(data.readableBytes))
        var data = data
        buffer.writeBuffer(&data)
        try await outbound.write(buffer)
    }

    private static func readOptionReply(_ option: NBDProtocol.Option, reader: inout ByteStreamReader) async throws -> OptionReply {
        guard try await reader.readUInt64() == NBDProtocol.optionReplyMagic else {
            throw NBDError.protocolViolation("bad option reply magic")
        }
        let echoed = try await reader.readUInt32()
        guard echoed == option.rawValue else {
            throw NBDError.protocolViolation("reply for option \(echoed) while negotiating \(option.rawValue)")
        }
        let type = try await reader.readUInt32()
        let length = Int(try await reader.readUInt32())
        guard length <= NBDProtocol.maxOptionReply else {
            throw NBDError.protocolViolation("an option reply of \(length) bytes is larger than \(NBDProtocol.maxOptionReply)")
        }
        return OptionReply(type: type, data: try await reader.readExactly(length))
    }

    private static func writeString(_ string: String, to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt32(string.utf8.count))
        buffer.writeString(string)
    }
}
