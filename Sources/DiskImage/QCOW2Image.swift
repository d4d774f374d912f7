import SendenseCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Reads a QCOW2 image (v2 or v3) and its backing chain: standard, zero and
/// compressed (zlib or zstd) clusters; unallocated clusters fall through to
/// the backing file, and read as zeros past its end or without one.
public final class QCOW2Image: DiskImageReader {
    /// Bits 9-55: a cluster-aligned host offset in L1 and standard L2 entries.
    static let offsetMask: UInt64 = 0x00ff_ffff_ffff_fe00
    static let compressedFlag: UInt64 = 1 << 62
    static let copiedFlag: UInt64 = 1 << 63
    static let zeroFlag: UInt64 = 1

    let file: ImageFile
    let header: QCOW2Header
    let l1: [UInt64]
    let fileSize: UInt64
    public let backing: (any DiskImageReader)?
    private let l2Cache = Mutex(L2Cache())

    public var path: String { file.path }
    public var virtualSize: UInt64 { header.size }
    public var clusterSize: Int { header.clusterSize }
    /// The backing file name as stored in the header (relative or absolute).
    public var backingFileName: String? { header.backingFile }

    /// - Parameter root: the folder every backing file must lie in (see `DiskImages.open`).
    public convenience init(path: String, backingsWithin root: String?) throws {
        try self.init(file: DiskImages.openFile(path), chain: [realPath(path)], root: root.map(realPath))
    }

    /// - Parameters:
    ///   - chain: real paths from the top image down to this one.
    ///   - root: the real path of the folder backing files must lie in.
    init(file: ImageFile, chain: [String], root: String?) throws {
        self.file = file
        fileSize = try file.size
        let first = try file.read(count: Int(min(fileSize, 2 << 20)), at: 0)
        header = try QCOW2Header.parse(first, path: file.path)
        let l1Bytes = Int(header.l1Size) * 8
        guard header.l1Size == 0 || (header.l1TableOffset <= fileSize && UInt64(l1Bytes) <= fileSize - header.l1TableOffset) else {
            throw DiskImageError.corrupt(path: file.path, reason: "the L1 table lies past the end of the file")
        }
        let raw = try file.read(count: l1Bytes, at: header.l1TableOffset)
        l1 = (0..<Int(header.l1Size)).map { raw.beUInt64(at: $0 * 8) }
        if let name = header.backingFile {
            backing = try DiskImages.open(path: Self.resolve(name, relativeTo: file.path), format: header.backingFormat, above: chain, root: root)
        } else {
            backing = nil
        }
    }

    /// QEMU resolves a relative backing name against the image's own folder.
    public static func resolve(_ name: String, relativeTo imagePath: String) -> String {
        if name.isAbsolutePath { return name }
        guard let slash = imagePath.lastIndex(of: "/") else { return name }
        return String(imagePath[...slash]) + name
    }

    // MARK: cluster mapping

    enum Mapping: Equatable {
        case unallocated
        case zero
        case data(host: UInt64)
        case compressed(host: UInt64, length: Int)
    }

    var l2Entries: UInt64 { UInt64(header.clusterSize / 8) }

    func mapping(ofCluster cluster: UInt64) throws -> Mapping {
        let l1Index = Int(cluster / l2Entries)
        guard l1Index < l1.count else { return .unallocated }
        let l2Offset = l1[l1Index] & Self.offsetMask
        guard l2Offset != 0 else { return .unallocated }
        let entry = try l2Table(at: l2Offset)[Int(cluster % l2Entries)]
        if entry & Self.compressedFlag != 0 {
            let x = 62 - (Int(header.clusterBits) - 8)
            let host = entry & ((1 << UInt64(x)) - 1)
            let sectors = (entry >> UInt64(x)) & ((1 << UInt64(62 - x)) - 1)
            let length = Int(sectors + 1) * 512 - Int(host & 511)
            return .compressed(host: host, length: length)
        }
        if header.version >= 3 && entry & Self.zeroFlag != 0 { return .zero }
        let host = entry & Self.offsetMask
        guard host != 0 else { return .unallocated }
        guard host % UInt64(header.clusterSize) == 0, host < fileSize else {
            throw DiskImageError.corrupt(path: path, reason: "guest cluster \(cluster) points to \(host), outside the file")
        }
        return .data(host: host)
    }

    private func l2Table(at offset: UInt64) throws -> [UInt64] {
        if let table = l2Cache.withLock({ $0.table(at: offset) }) { return table }
        guard offset % UInt64(header.clusterSize) == 0, offset + UInt64(header.clusterSize) <= fileSize else {
            throw DiskImageError.corrupt(path: path, reason: "an L2 table at \(offset) lies outside the file")
        }
        let raw = try file.read(count: header.clusterSize, at: offset)
        let table = (0..<Int(l2Entries)).map { raw.beUInt64(at: $0 * 8) }
        l2Cache.withLock { $0.insert(table, at: offset) }
        return table
    }

    // MARK: reading

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws {
        try checkRange(offset, buffer.count)
        let clusterSize = UInt64(header.clusterSize)
        var position = 0
        while position < buffer.count {
            let guest = offset + UInt64(position)
            let cluster = guest / clusterSize
            let within = guest % clusterSize
            let mapping = try mapping(ofCluster: cluster)
            // Extend the run over following clusters that continue it, so a
            // long read becomes one pread (or one memset, or one backing read).
            var length = min(UInt64(buffer.count - position), clusterSize - within)
            var next = cluster + 1
            while UInt64(position) + length < UInt64(buffer.count) {
                let following = try self.mapping(ofCluster: next)
                let continues = switch (mapping, following) {
                case (.data(let a), .data(let b)): b == a + (next - cluster) * clusterSize
                case (.zero, .zero), (.unallocated, .unallocated): true
                default: false
                }
                guard continues else { break }
                length += min(UInt64(buffer.count - position) - length, clusterSize)
                next += 1
            }
            let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[position..<(position + Int(length))])
            switch mapping {
            case .zero:
                slice.initializeMemory(as: UInt8.self, repeating: 0)
            case .data(let host):
                // Like QEMU's file layer, bytes past the end of the file
                // (a last cluster written short) read as zeros.
                let start = host + within
                let present = Int(min(UInt64(slice.count), fileSize > start ? fileSize - start : 0))
                try file.read(into: UnsafeMutableRawBufferPointer(rebasing: slice[0..<present]), at: start)
                if present < slice.count {
                    UnsafeMutableRawBufferPointer(rebasing: slice[present...]).initializeMemory(as: UInt8.self, repeating: 0)
                }
            case .unallocated:
                try readBacking(into: slice, at: guest)
            case .compressed(let host, let compressedLength):
                try readCompressed(host: host, length: compressedLength, within: Int(within), into: slice)
            }
            position += Int(length)
        }
    }

    private func readBacking(into slice: UnsafeMutableRawBufferPointer, at guest: UInt64) throws {
        guard let backing, guest < backing.virtualSize else {
            slice.initializeMemory(as: UInt8.self, repeating: 0)
            return
        }
        let covered = Int(min(UInt64(slice.count), backing.virtualSize - guest))
        try backing.read(into: UnsafeMutableRawBufferPointer(rebasing: slice[0..<covered]), at: guest)
        if covered < slice.count {
            UnsafeMutableRawBufferPointer(rebasing: slice[covered...]).initializeMemory(as: UInt8.self, repeating: 0)
        }
    }

    private func readCompressed(host: UInt64, length: Int, within: Int, into slice: UnsafeMutableRawBufferPointer) throws {
        guard host < fileSize else { throw DiskImageError.corrupt(path: path, reason: "a compressed cluster lies past the end of the file") }
        // The last sector of the file may be short: read what is there.
        let compressed = try file.read(count: Int(min(UInt64(length), fileSize - host)), at: host)
        var cluster = [UInt8](repeating: 0, count: header.clusterSize)
        let type = header.compression
        try compressed.withUnsafeBytes { (input) throws in
            try cluster.withUnsafeMutableBytes { (output) throws in
                try ClusterDecompressor.decompress(input, into: output, type: type, path: path)
            }
        }
        cluster.withUnsafeBytes { source in
            slice.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[within..<(within + slice.count)]))
        }
    }

    // MARK: extents

    public func extents(from offset: UInt64, length: UInt64) throws -> [ImageExtent] {
        let end = offset >= virtualSize ? offset : offset + min(length, virtualSize - offset)
        let clusterSize = UInt64(header.clusterSize)
        var result: [ImageExtent] = []
        var position = offset
        while position < end {
            let cluster = position / clusterSize
            let l1Index = Int(cluster / l2Entries)
            // A whole missing L2 table is one unallocated run.
            var runEnd: UInt64
            let mapping: Mapping
            if l1Index >= l1.count || l1[l1Index] & Self.offsetMask == 0 {
                mapping = .unallocated
                runEnd = min(end, UInt64(l1Index + 1) * l2Entries * clusterSize)
            } else {
                mapping = try self.mapping(ofCluster: cluster)
                runEnd = min(end, (cluster + 1) * clusterSize)
            }
            switch mapping {
            case .data, .compressed:
                result.appendMerging(ImageExtent(offset: position, length: runEnd - position, kind: .data))
            case .zero:
                result.appendMerging(ImageExtent(offset: position, length: runEnd - position, kind: .zero))
            case .unallocated:
                if let backing, position < backing.virtualSize {
                    let backed = min(runEnd, backing.virtualSize)
                    for extent in try backing.extents(from: position, length: backed - position) {
                        result.appendMerging(extent)
                    }
                    result.appendMerging(ImageExtent(offset: backed, length: runEnd - backed, kind: .zero))
                } else {
                    result.appendMerging(ImageExtent(offset: position, length: runEnd - position, kind: .zero))
                }
            }
            position = runEnd
        }
        return result
    }
}

/// A small cache of decoded L2 tables. A 64 KiB-cluster table maps 512 MiB of
/// disk, so 64 tables cover a 32 GiB working set in 4 MiB of memory.
struct L2Cache: ~Copyable {
    private var tables: [UInt64: [UInt64]] = [:]
    private var order: [UInt64] = []
    private let capacity = 64

    func table(at offset: UInt64) -> [UInt64]? { tables[offset] }

    mutating func insert(_ table: [UInt64], at offset: UInt64) {
        if tables[offset] == nil {
            order.append(offset)
            if order.count > capacity { tables[order.removeFirst()] = nil }
        }
        tables[offset] = table
    }
}
