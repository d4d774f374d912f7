import CZlib
import CZstd

/// Inflates one compressed QCOW2 cluster: raw deflate (zlib type, window
/// bits -12) or a zstd frame. The input may carry trailing bytes up to the
/// next sector; decoding stops once a whole cluster has been produced.
enum ClusterDecompressor {
    static func decompress(
        _ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer,
        type: QCOW2Header.Compression, path: String
    ) throws {
        let ok = switch type {
        case .zlib: inflateRaw(input, into: output)
        case .zstd: decompressZstd(input, into: output)
        }
        guard ok else { throw DiskImageError.corrupt(path: path, reason: "a compressed cluster does not decompress to a whole cluster") }
    }

    private static func inflateRaw(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Bool {
        guard let inBase = input.baseAddress, let outBase = output.baseAddress else { return false }
        var stream = z_stream()
        guard inflateInit2_(&stream, -12, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return false }
        defer { inflateEnd(&stream) }
        stream.next_in = UnsafeMutablePointer(mutating: inBase.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(input.count)
        stream.next_out = outBase.assumingMemoryBound(to: Bytef.self)
        stream.avail_out = uInt(output.count)
        let status = inflate(&stream, Z_FINISH)
        // Z_BUF_ERROR with a full output is fine: the padding was not needed.
        return (status == Z_STREAM_END || status == Z_BUF_ERROR || status == Z_OK) && stream.avail_out == 0
    }

    private static func decompressZstd(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Bool {
        guard let context = ZSTD_createDCtx() else { return false }
        defer { ZSTD_freeDCtx(context) }
        var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        var outBuffer = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
        while outBuffer.pos < outBuffer.size {
            let result = ZSTD_decompressStream(context, &outBuffer, &inBuffer)
            if ZSTD_isError(result) != 0 { return false }
            if result == 0 || inBuffer.pos == inBuffer.size { break }
        }
        return outBuffer.pos == outBuffer.size
    }
}
