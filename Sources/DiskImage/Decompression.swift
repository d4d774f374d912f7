import CZlib
import CZstd

/// Bounded decompressors over caller-owned buffers, shared by the QCOW2
/// reader and file restore (btrfs extents). Each answers how many bytes it
/// produced (at most the output's size), or nil on undecodable input.
package enum Decompression {
    /// A deflate stream: `windowBits` -15…-8 for raw deflate (QCOW2), 8…15 for a zlib stream (btrfs).
    package static func inflate(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, windowBits: Int32) -> Int? {
        guard let inBase = input.baseAddress, let outBase = output.baseAddress else { return nil }
        var stream = z_stream()
        guard inflateInit2_(&stream, windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        stream.next_in = UnsafeMutablePointer(mutating: inBase.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(input.count)
        stream.next_out = outBase.assumingMemoryBound(to: Bytef.self)
        stream.avail_out = uInt(output.count)
        let status = CZlib.inflate(&stream, Z_FINISH)
        // Z_BUF_ERROR with a full output is fine: trailing input was not needed.
        guard status == Z_STREAM_END || status == Z_BUF_ERROR || status == Z_OK else { return nil }
        return output.count - Int(stream.avail_out)
    }

    /// A zstd frame.
    package static func zstd(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int? {
        guard let context = ZSTD_createDCtx() else { return nil }
        defer { ZSTD_freeDCtx(context) }
        var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        var outBuffer = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
        while outBuffer.pos < outBuffer.size {
            let result = ZSTD_decompressStream(context, &outBuffer, &inBuffer)
            if ZSTD_isError(result) != 0 { return nil }
            if result == 0 || inBuffer.pos == inBuffer.size { break }
        }
        return outBuffer.pos
    }
}
