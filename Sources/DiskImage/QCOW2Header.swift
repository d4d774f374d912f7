/// The QCOW2 file header (docs/interop/qcow2.txt, "Header"), versions 2 and 3,
/// with the header extensions Sendense reads or writes.
struct QCOW2Header: Equatable, Sendable {
    static let magic: UInt32 = 0x5146_49fb  // "QFI\xfb"
    static let backingFormatExtension: UInt32 = 0xe279_2aca
    static let endOfExtensions: UInt32 = 0

    enum Incompatible {
        static let dirty: UInt64 = 1 << 0
        static let corrupt: UInt64 = 1 << 1
        static let externalData: UInt64 = 1 << 2
        static let compressionType: UInt64 = 1 << 3
        static let extendedL2: UInt64 = 1 << 4
        static let known: UInt64 = 0b11111
    }

    enum Compression: UInt8, Sendable {
        case zlib = 0
        case zstd = 1
    }

    var version: UInt32
    var backingFileOffset: UInt64
    var backingFileSize: UInt32
    var clusterBits: UInt32
    var size: UInt64
    var cryptMethod: UInt32
    var l1Size: UInt32
    var l1TableOffset: UInt64
    var refcountTableOffset: UInt64
    var refcountTableClusters: UInt32
    var snapshotCount: UInt32
    var snapshotsOffset: UInt64
    var incompatibleFeatures: UInt64 = 0
    var compatibleFeatures: UInt64 = 0
    var autoclearFeatures: UInt64 = 0
    var refcountOrder: UInt32 = 4
    var headerLength: UInt32
    var compression: Compression = .zlib
    var backingFormat: String?
    var backingFile: String?

    var clusterSize: Int { 1 << Int(clusterBits) }

    /// Parses the first cluster (or more) of a file.
    static func parse(_ bytes: [UInt8], path: String) throws -> QCOW2Header {
        guard bytes.count >= 72, bytes.beUInt32(at: 0) == magic else {
            throw DiskImageError.notAnImage(path: path, reason: "no QCOW2 magic")
        }
        let version = bytes.beUInt32(at: 4)
        guard version == 2 || version == 3 else {
            throw DiskImageError.unsupported(path: path, feature: "QCOW2 version \(version)")
        }
        let clusterBits = bytes.beUInt32(at: 20)
        guard (9...21).contains(clusterBits) else {
            throw DiskImageError.corrupt(path: path, reason: "cluster_bits \(clusterBits) is outside 9...21")
        }
        var header = QCOW2Header(
            version: version,
            backingFileOffset: bytes.beUInt64(at: 8), backingFileSize: bytes.beUInt32(at: 16),
            clusterBits: clusterBits, size: bytes.beUInt64(at: 24), cryptMethod: bytes.beUInt32(at: 32),
            l1Size: bytes.beUInt32(at: 36), l1TableOffset: bytes.beUInt64(at: 40),
            refcountTableOffset: bytes.beUInt64(at: 48), refcountTableClusters: bytes.beUInt32(at: 56),
            snapshotCount: bytes.beUInt32(at: 60), snapshotsOffset: bytes.beUInt64(at: 64),
            headerLength: 72)
        if version == 3 {
            guard bytes.count >= 104 else { throw DiskImageError.corrupt(path: path, reason: "the v3 header is truncated") }
            header.incompatibleFeatures = bytes.beUInt64(at: 72)
            header.compatibleFeatures = bytes.beUInt64(at: 80)
            header.autoclearFeatures = bytes.beUInt64(at: 88)
            header.refcountOrder = bytes.beUInt32(at: 96)
            header.headerLength = bytes.beUInt32(at: 100)
            guard header.headerLength >= 104, header.headerLength % 8 == 0, Int(header.headerLength) <= bytes.count else {
                throw DiskImageError.corrupt(path: path, reason: "header_length \(header.headerLength) is not valid")
            }
            if header.headerLength > 104 {
                guard let compression = Compression(rawValue: bytes[104]) else {
                    throw DiskImageError.unsupported(path: path, feature: "compression type \(bytes[104])")
                }
                header.compression = compression
            }
        }
        try header.checkFeatures(path: path)
        try header.readExtensions(bytes, path: path)
        if header.backingFileOffset != 0 {
            // Compared as UInt64 first: a hostile offset does not fit an Int.
            guard header.backingFileOffset < UInt64(bytes.count) else {
                throw DiskImageError.corrupt(path: path, reason: "the backing file name lies outside the first cluster")
            }
            let start = Int(header.backingFileOffset), length = Int(header.backingFileSize)
            guard length > 0, length <= 1023, start + length <= bytes.count else {
                throw DiskImageError.corrupt(path: path, reason: "the backing file name lies outside the first cluster")
            }
            header.backingFile = String(decoding: bytes[start..<(start + length)], as: UTF8.self)
        }
        // Bytes one L2 table maps; rounding up by division, since size + span - 1 overflows for a hostile size.
        let span = UInt64(header.clusterSize) * UInt64(header.clusterSize / 8)
        let needed = header.size / span + (header.size % span == 0 ? 0 : 1)
        guard UInt64(header.l1Size) >= needed, header.l1Size <= 32 * 1024 * 1024 / 8 else {
            throw DiskImageError.corrupt(path: path, reason: "L1 size \(header.l1Size) does not fit virtual size \(header.size)")
        }
        guard header.l1TableOffset % UInt64(header.clusterSize) == 0 else {
            throw DiskImageError.corrupt(path: path, reason: "the L1 table is not cluster aligned")
        }
        return header
    }

    private func checkFeatures(path: String) throws {
        if cryptMethod != 0 { throw DiskImageError.unsupported(path: path, feature: "encryption") }
        let unknown = incompatibleFeatures & ~Incompatible.known
        if unknown != 0 { throw DiskImageError.unsupported(path: path, feature: "unknown incompatible features 0x\(String(unknown, radix: 16))") }
        if incompatibleFeatures & Incompatible.corrupt != 0 {
            throw DiskImageError.corrupt(path: path, reason: "QEMU marked the image corrupt; repair it with qemu-img check -r all")
        }
        if incompatibleFeatures & Incompatible.externalData != 0 { throw DiskImageError.unsupported(path: path, feature: "an external data file") }
        if incompatibleFeatures & Incompatible.extendedL2 != 0 { throw DiskImageError.unsupported(path: path, feature: "extended L2 entries (subclusters)") }
    }

    private mutating func readExtensions(_ bytes: [UInt8], path: String) throws {
        guard version == 3 else { return }
        var offset = Int(headerLength)
        let limit = min(bytes.count, clusterSize)
        while offset + 8 <= limit {
            let type = bytes.beUInt32(at: offset)
            let length = Int(bytes.beUInt32(at: offset + 4))
            if type == Self.endOfExtensions { return }
            guard offset + 8 + length <= limit else { throw DiskImageError.corrupt(path: path, reason: "a header extension runs past the first cluster") }
            if type == Self.backingFormatExtension {
                backingFormat = String(decoding: bytes[(offset + 8)..<(offset + 8 + length)], as: UTF8.self)
            }
            offset += 8 + (length + 7) / 8 * 8
        }
    }

    /// The first cluster of a new v3 image as Sendense writes it: no
    /// optional features, 16-bit refcounts, an optional backing file.
    func serialized() throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: clusterSize)
        bytes.putBE(Self.magic, at: 0)
        bytes.putBE(UInt32(3), at: 4)
        bytes.putBE(clusterBits, at: 20)
        bytes.putBE(size, at: 24)
        bytes.putBE(l1Size, at: 36)
        bytes.putBE(l1TableOffset, at: 40)
        bytes.putBE(refcountTableOffset, at: 48)
        bytes.putBE(refcountTableClusters, at: 56)
        bytes.putBE(refcountOrder, at: 96)
        bytes.putBE(UInt32(104), at: 100)
        var offset = 104
        if let backingFormat {
            let name = Array(backingFormat.utf8)
            bytes.putBE(Self.backingFormatExtension, at: offset)
            bytes.putBE(UInt32(name.count), at: offset + 4)
            bytes.replaceSubrange((offset + 8)..<(offset + 8 + name.count), with: name)
            offset += 8 + (name.count + 7) / 8 * 8
        }
        offset += 8  // end-of-extensions marker: type 0, length 0
        if let backingFile {
            let name = Array(backingFile.utf8)
            guard !name.isEmpty, name.count <= 1023, offset + name.count <= clusterSize else {
                throw DiskImageError.invalidArgument("backing file name must be 1 to 1023 bytes and fit in the first cluster")
            }
            bytes.putBE(UInt64(offset), at: 8)
            bytes.putBE(UInt32(name.count), at: 16)
            bytes.replaceSubrange(offset..<(offset + name.count), with: name)
        }
        return bytes
    }
}
