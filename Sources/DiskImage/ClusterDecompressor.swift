/// Inflates one compressed QCOW2 cluster: raw deflate (zlib type, window
/// bits -12) or a zstd frame. The input may carry trailing bytes up to the
/// next sector; decoding stops once a whole cluster has been produced.
enum ClusterDecompressor {
    static func decompress(
        _ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer,
        type: QCOW2Header.Compression, path: String
    ) throws {
        let produced = switch type {
        case .zlib: Decompression.inflate(input, into: output, windowBits: -12)
        case .zstd: Decompression.zstd(input, into: output)
        }
        guard produced == output.count else {
            throw DiskImageError.corrupt(path: path, reason: "a compressed cluster does not decompress to a whole cluster")
        }
    }
}
