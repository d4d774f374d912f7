import NIOCore

/// Reads exact byte counts from a stream of buffers. The caller bounds every
/// count before asking, so a hostile peer cannot make it buffer without limit.
struct ByteStreamReader {
    private var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private var buffer = ByteBuffer()

    init(_ iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator) {
        self.iterator = iterator
    }

    mutating func readExactly(_ count: Int) async throws -> ByteBuffer {
        while buffer.readableBytes < count {
            guard var chunk = try await iterator.next() else { throw NBDError.connectionClosed }
            if buffer.readableBytes == 0 {
                buffer = chunk
            } else {
                buffer.writeBuffer(&chunk)
            }
        }
        // readSlice shares storage: no copy of the payload.
        guard let slice = buffer.readSlice(length: count) else { throw NBDError.connectionClosed }
        if buffer.readableBytes == 0 { buffer.clear() }
        return slice
    }

    mutating func readUInt16() async throws -> UInt16 {
        var bytes = try await readExactly(2)
        return bytes.readInteger(as: UInt16.self) ?? 0
    }

    mutating func readUInt32() async throws -> UInt32 {
        var bytes = try await readExactly(4)
        return bytes.readInteger(as: UInt32.self) ?? 0
    }

    mutating func readUInt64() async throws -> UInt64 {
        var bytes = try await readExactly(8)
        return bytes.readInteger(as: UInt64.self) ?? 0
    }
}
