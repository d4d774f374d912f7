import CZlib

/// A disk as a streamOptimized VMDK: the form VMware takes a disk in when it
/// is imported (OVF packages, HttpNfcLease uploads). Everything is written
/// front to back, so it can go straight into an HTTP body: a header whose
/// grain directory is "at the end", the descriptor, then each 64 KiB grain
/// that holds data, deflated, behind a marker naming its guest sector; after
/// each run of 512 grains their grain table; at the end the grain directory,
/// a footer (the header again, now with the directory's place) and an
/// end-of-stream marker. Grains of zeros and unallocated ranges are not
/// written at all (their table entries stay 0).
///
/// Memory: one grain table (2 KiB) and the directory (4 bytes per 32 MiB of
/// disk); the data is read in runs of at most `maxPiece` bytes.
public struct StreamOptimizedVMDK: Sendable {
    public let virtualSize: UInt64
    /// The name of the extent in the descriptor (VMware keeps it as the file's name).
    public let extentName: String
    /// `ddb.adapterType`: the controller the disk was made for.
    public let adapterType: String

    static let sector = 512
    static let grainSectors: UInt64 = 128
    static let grainBytes = Int(grainSectors) * sector
    static let tableEntries = 512
    static let gdAtEnd = UInt64.max

    enum MarkerType: UInt32 {
        case endOfStream = 0
        case grainTable = 1
        case grainDirectory = 2
        case footer = 3
    }

    public init(virtualSize: UInt64, extentName: String = "disk.vmdk", adapterType: String = "lsilogic") {
        self.virtualSize = virtualSize
        self.extentName = extentName.filter { $0 != "\"" && $0 != "\n" }
        self.adapterType = adapterType
    }

    var capacitySectors: UInt64 { (virtualSize + UInt64(Self.sector) - 1) / UInt64(Self.sector) }
    var grains: UInt64 { (capacitySectors + Self.grainSectors - 1) / Self.grainSectors }
    var tables: Int { Int((grains + UInt64(Self.tableEntries) - 1) / UInt64(Self.tableEntries)) }

    /// Produces the file: `extents` are the image's runs (from `image.extents()`).
    /// `reached` hears how far into the guest's disk the pieces handed out go.
    public func forEachPiece(of image: any DiskImageReader, extents: [ImageExtent], maxPiece: Int = 4 << 20,
                             reached: (UInt64) -> Void = { _ in }, _ body: ([UInt8]) async throws -> Void) async throws {
        // Grain tables hold 32-bit sector numbers: 2 TiB is the format's limit.
        guard capacitySectors < UInt64(UInt32.max) - capacitySectors / 64 else {
            throw DiskImageError.corrupt(path: extentName, reason: "a streamOptimized VMDK holds at most 2 TiB; this disk is \(virtualSize) bytes")
        }
        var writer = Writer()
        let descriptor = descriptorSectors()
        let descriptorCount = UInt64(descriptor.count / Self.sector)
        // Data starts on a grain boundary, as VMware writes it.
        let overhead = (1 + descriptorCount + Self.grainSectors - 1) / Self.grainSectors * Self.grainSectors
        writer.append(header(descriptorSectors: descriptorCount, overhead: overhead, gdOffset: Self.gdAtEnd))
        writer.append(descriptor)
        writer.append([UInt8](repeating: 0, count: Int(overhead - 1 - descriptorCount) * Self.sector))

        var directory = [UInt32](repeating: 0, count: tables)
        var table = [UInt32](repeating: 0, count: Self.tableEntries)
        var tableIndex: Int? = nil
        var compressed = [UInt8](repeating: 0, count: Int(compressBound(uLong(Self.grainBytes))) + 12)
        let clusters = QCOW2StreamLayout.dataClusters(of: extents, clusterSize: Self.grainBytes)
        let perPiece = max(1, maxPiece / Self.grainBytes)
        var index = 0
        while index < clusters.count {
            var end = index + 1
            while end < clusters.count, end - index < perPiece, clusters[end] == clusters[end - 1] + 1 { end += 1 }
            let offset = clusters[index] * UInt64(Self.grainBytes)
            let wanted = (end - index) * Self.grainBytes
            var run = try image.read(count: Int(min(UInt64(wanted), virtualSize - offset)), at: offset)
            if run.count < wanted { run += [UInt8](repeating: 0, count: wanted - run.count) }
            for (position, grain) in clusters[index..<end].enumerated() {
                let owner = Int(grain / UInt64(Self.tableEntries))
                if owner != tableIndex {
                    if let done = tableIndex { directory[done] = writeTable(&table, into: &writer) }
                    tableIndex = owner
                }
                let start = position * Self.grainBytes
                guard run[start..<start + Self.grainBytes].contains(where: { $0 != 0 }) else { continue }
                table[Int(grain % UInt64(Self.tableEntries))] = UInt32(writer.sectors)
                let size = try deflateGrain(run, at: start, into: &compressed)
                compressed.putLE(grain * Self.grainSectors, at: 0)
                compressed.putLE(UInt32(size), at: 8)
                writer.append(compressed[0..<12 + size])
                writer.padToSector()
            }
            if writer.bytes.count >= maxPiece {
                try await body(writer.take())
                reached(min(virtualSize, offset + UInt64(wanted)))
            }
            index = end
        }
        if let done = tableIndex { directory[done] = writeTable(&table, into: &writer) }

        let directoryBytes = (tables * 4 + Self.sector - 1) / Self.sector * Self.sector
        writer.append(marker(.grainDirectory, sectors: UInt64(directoryBytes / Self.sector)))
        let gdOffset = writer.sectors
        var entries = [UInt8](repeating: 0, count: directoryBytes)
        for (position, sector) in directory.enumerated() { entries.putLE(sector, at: position * 4) }
        writer.append(entries)
        writer.append(marker(.footer, sectors: 1))
        writer.append(header(descriptorSectors: descriptorCount, overhead: overhead, gdOffset: gdOffset))
        writer.append(marker(.endOfStream, sectors: 0))
        try await body(writer.take())
        reached(virtualSize)
    }

    /// Writes a table's marker and entries; answers its sector and clears it.
    private func writeTable(_ table: inout [UInt32], into writer: inout Writer) -> UInt32 {
        let bytes = Self.tableEntries * 4
        writer.append(marker(.grainTable, sectors: UInt64(bytes / Self.sector)))
        let at = UInt32(writer.sectors)
        var entries = [UInt8](repeating: 0, count: bytes)
        for (position, sector) in table.enumerated() where sector != 0 { entries.putLE(sector, at: position * 4) }
        writer.append(entries)
        for position in table.indices { table[position] = 0 }
        return at
    }

    /// zlib-deflates one grain into `output` after its 12-byte marker; answers the compressed size.
    private func deflateGrain(_ run: [UInt8], at start: Int, into output: inout [UInt8]) throws -> Int {
        var size = uLong(output.count - 12)
        let status = run.withUnsafeBytes { source in
            output.withUnsafeMutableBytes { target in
                compress2(target.baseAddress!.advanced(by: 12).assumingMemoryBound(to: Bytef.self), &size,
                          source.baseAddress!.advanced(by: start).assumingMemoryBound(to: Bytef.self), uLong(Self.grainBytes),
                          Z_BEST_SPEED)
            }
        }
        guard status == Z_OK else { throw DiskImageError.corrupt(path: extentName, reason: "deflate failed (\(status))") }
        return Int(size)
    }

    /// A sector holding a metadata marker: the sectors that follow, and their kind.
    private func marker(_ type: MarkerType, sectors: UInt64) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.sector)
        bytes.putLE(sectors, at: 0)
        bytes.putLE(type.rawValue, at: 12)
        return bytes
    }

    /// SparseExtentHeader (little-endian, packed): version 3, compressed grains with markers.
    func header(descriptorSectors: UInt64, overhead: UInt64, gdOffset: UInt64) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.sector)
        bytes.putLE(UInt32(0x564D_444B), at: 0)  // "KDMV"
        bytes.putLE(UInt32(3), at: 4)
        // Valid newline test, compressed grains, markers.
        bytes.putLE(UInt32(1 | 1 << 16 | 1 << 17), at: 8)
        bytes.putLE(capacitySectors, at: 12)
        bytes.putLE(Self.grainSectors, at: 20)
        bytes.putLE(UInt64(1), at: 28)
        bytes.putLE(descriptorSectors, at: 36)
        bytes.putLE(UInt32(Self.tableEntries), at: 44)
        bytes.putLE(UInt64(0), at: 48)  // no redundant directory
        bytes.putLE(gdOffset, at: 56)
        bytes.putLE(overhead, at: 64)
        bytes[72] = 0  // cleanly closed
        bytes[73] = UInt8(ascii: "\n")
        bytes[74] = UInt8(ascii: " ")
        bytes[75] = UInt8(ascii: "\r")
        bytes[76] = UInt8(ascii: "\n")
        bytes.putLE(UInt16(1), at: 77)  // deflate
        return bytes
    }

    /// The embedded descriptor, padded to whole sectors. The geometry is the
    /// usual 255 heads, 63 sectors a track; BIOSes of old guests read it.
    func descriptorSectors() -> [UInt8] {
        let cylinders = min(65535, capacitySectors / (255 * 63))
        let text = """
            # Disk DescriptorFile
            version=1
            CID=fffffffe
            parentCID=ffffffff
            createType="streamOptimized"

            # Extent description
            RW \(capacitySectors) SPARSE "\(extentName)"

            # The Disk Data Base
            #DDB

            ddb.virtualHWVersion = "4"
            ddb.geometry.cylinders = "\(cylinders)"
            ddb.geometry.heads = "255"
            ddb.geometry.sectors = "63"
            ddb.adapterType = "\(adapterType)"

            """
        var bytes = Array(text.utf8)
        bytes += [UInt8](repeating: 0, count: (Self.sector - bytes.count % Self.sector) % Self.sector)
        return bytes
    }

    /// Bytes not yet handed out, and how many sectors were written before them.
    struct Writer {
        var bytes: [UInt8] = []
        var flushedSectors: UInt64 = 0
        var sectors: UInt64 { flushedSectors + UInt64(bytes.count / StreamOptimizedVMDK.sector) }

        mutating func append<Bytes: Collection>(_ more: Bytes) where Bytes.Element == UInt8 { bytes.append(contentsOf: more) }

        mutating func padToSector() {
            let rest = bytes.count % StreamOptimizedVMDK.sector
            if rest != 0 { bytes += [UInt8](repeating: 0, count: StreamOptimizedVMDK.sector - rest) }
        }

        mutating func take() -> [UInt8] {
            flushedSectors = sectors
            defer { bytes = [] }
            return bytes
        }
    }
}
