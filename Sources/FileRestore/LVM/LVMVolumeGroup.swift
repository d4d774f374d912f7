import DiskImage

/// A volume group assembled from the physical volumes found on a restore
/// point's disks, and its logical volumes as readable disks.
struct LVMVolumeGroup {
    struct LogicalVolume {
        let name: String
        let size: UInt64
        /// A reader of the LV's bytes, or why there is none.
        let reader: Result<any DiskImageReader, LVMError>
    }

    let name: String
    let logicalVolumes: [LogicalVolume]
    /// UUIDs of the VG's PVs (dashes removed), found or not.
    let physicalVolumeIDs: [String]

    /// The VG described by `metadata`, its PVs looked up by UUID in `available`.
    init(metadata: [UInt8], available: [String: LVMPhysicalVolume]) throws {
        let top: LVMText.Value
        do {
            top = try LVMText.parse(metadata)
        } catch {
            throw LVMError.damaged("\(error)")
        }
        guard let (name, group) = top.pairs.first(where: { $0.value["physical_volumes"] != nil }) else {
            throw LVMError.damaged("no volume group in the metadata")
        }
        guard let extentSectors = group["extent_size"]?.number, extentSectors > 0, extentSectors <= 1 << 32 else {
            throw LVMError.damaged("extent_size of \(name)")
        }
        let extentBytes = UInt64(extentSectors) * 512
        var physical: [String: (pv: LVMPhysicalVolume?, start: UInt64, extents: UInt64)] = [:]
        var ids: [String] = []
        for (pvName, pv) in group["physical_volumes"]?.pairs ?? [] {
            let id = (pv["id"]?.string ?? "").filter { $0 != "-" }
            ids.append(id)
            let start = UInt64(min(max(0, pv["pe_start"]?.number ?? 0), 1 << 50)) * 512
            physical[pvName] = (available[id], start, UInt64(max(0, pv["pe_count"]?.number ?? 0)))
        }
        let all = group["logical_volumes"]?.pairs ?? []
        var volumes: [LogicalVolume] = []
        for (lvName, lv) in all {
            let flags = lv["status"]?.list?.compactMap(\.string) ?? []
            guard flags.contains("VISIBLE") else { continue }
            volumes.append(Self.logicalVolume(lvName, lv, all: all, physical: physical, extentBytes: extentBytes, depth: 0))
        }
        self.name = name
        self.logicalVolumes = volumes
        self.physicalVolumeIDs = ids
    }

    /// Maps each segment of an LV onto its PVs (linear and striped), or onto
    /// its first image LV (raid1, mirror: every image holds the same data).
    private static func logicalVolume(
        _ name: String, _ lv: LVMText.Value, all: [(key: String, value: LVMText.Value)],
        physical: [String: (pv: LVMPhysicalVolume?, start: UInt64, extents: UInt64)], extentBytes: UInt64, depth: Int
    ) -> LogicalVolume {
        var segments: [LogicalVolumeReader.Segment] = []
        let segmentSections = lv.pairs.filter { $0.key.hasPrefix("segment") && $0.key != "segment_count" }
        // Extents to bytes; nil when the (guest-written) numbers overflow.
        func bytes(_ extents: Int64) -> UInt64? {
            guard extents >= 0 else { return nil }
            let (value, overflow) = UInt64(extents).multipliedReportingOverflow(by: extentBytes)
            return overflow ? nil : value
        }
        // The size first, so that a volume that cannot be read still shows its whole size.
        let size = segmentSections.reduce(UInt64(0)) { size, pair in
            guard let start = pair.value["start_extent"]?.number, let count = pair.value["extent_count"]?.number,
                  start >= 0, count > 0, start < 1 << 40, count < 1 << 40
            else { return size }
            return max(size, bytes(start + count) ?? size)
        }
        func fail(_ error: LVMError) -> LogicalVolume { LogicalVolume(name: name, size: size, reader: .failure(error)) }
        for (_, segment) in segmentSections {
            guard let start = segment["start_extent"]?.number, let count = segment["extent_count"]?.number,
                  start >= 0, count > 0, start < 1 << 40, count < 1 << 40
            else { return fail(.damaged("a segment of \(name)")) }
            let type = segment["type"]?.string ?? "?"
            guard let begin = bytes(start), let length = bytes(count) else { return fail(.damaged("a segment of \(name)")) }
            switch type {
            case "striped", "linear":
                let stripes = segment["stripes"]?.list ?? []
                guard stripes.count >= 2, stripes.count % 2 == 0 else { return fail(.damaged("the stripes of \(name)")) }
                var areas: [LogicalVolumeReader.Area] = []
                for pair in stride(from: 0, to: stripes.count, by: 2) {
                    guard let pvName = stripes[pair].string, let firstExtent = stripes[pair + 1].number,
                          let target = physical[pvName], let into = bytes(firstExtent), into <= UInt64.max - target.start
                    else { return fail(.damaged("a stripe of \(name)")) }
                    guard let pv = target.pv else {
                        return fail(.unsupported("\(name) needs physical volume \(pvName), which is on no disk of this restore point"))
                    }
                    areas.append(.init(reader: pv.reader, offset: target.start + into))
                }
                let stripeBytes = UInt64(min(max(0, segment["stripe_size"]?.number ?? 0), 1 << 40)) * 512
                guard areas.count == 1 || (stripeBytes > 0 && length % (UInt64(areas.count)) == 0) else {
                    return fail(.damaged("the stripe size of \(name)"))
                }
                segments.append(.init(start: begin, length: length, areas: areas, stripeBytes: stripeBytes))
            case "raid1", "mirror":
                // Any image will do; the first is read (as a hidden LV of its own).
                let images = segment[type == "raid1" ? "raids" : "mirrors"]?.list ?? []
                let imageName = type == "raid1" ? (images.count > 1 ? images[1].string : nil) : images.first?.string
                guard depth < 4, let imageName, let image = all.first(where: { $0.key == imageName })?.value else {
                    return fail(.damaged("the images of \(name)"))
                }
                let inner = logicalVolume(imageName, image, all: all, physical: physical, extentBytes: extentBytes, depth: depth + 1)
                guard case .success(let reader) = inner.reader else { return LogicalVolume(name: name, size: size, reader: inner.reader) }
                segments.append(.init(start: begin, length: length, areas: [.init(reader: reader, offset: 0)], stripeBytes: 0))
            default:
                // Thin pools and snapshots keep their own metadata trees; RAID 4/5/6 parity.
                return fail(.unsupported("\(name) is a \(type) logical volume, which file restore cannot read yet"))
            }
        }
        guard !segments.isEmpty else { return fail(.damaged("\(name) has no segments")) }
        return LogicalVolume(name: name, size: size, reader: .success(LogicalVolumeReader(name: name, size: size, segments: segments)))
    }
}

/// The bytes of a logical volume: each segment maps onto one area (linear)
/// or, in turn, onto several (striped: `stripeBytes` from each in order).
struct LogicalVolumeReader: DiskImageReader {
    struct Area: Sendable {
        let reader: any DiskImageReader
        let offset: UInt64
    }

    struct Segment: Sendable {
        let start: UInt64
        let length: UInt64
        let areas: [Area]
        let stripeBytes: UInt64
    }

    let name: String
    let size: UInt64
    let segments: [Segment]

    var path: String { "LVM logical volume \(name)" }
    var virtualSize: UInt64 { size }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws {
        try checkRange(offset, buffer.count)
        var done = 0
        while done < buffer.count {
            let position = offset + UInt64(done)
            guard let segment = segments.first(where: { position >= $0.start && position < $0.start + $0.length }) else {
                // A gap between segments reads as zeros (LVM leaves none).
                buffer[done] = 0
                done += 1
                continue
            }
            let inside = position - segment.start
            var count = min(UInt64(buffer.count - done), segment.start + segment.length - position)
            let area: Area
            let areaOffset: UInt64
            if segment.areas.count == 1 {
                area = segment.areas[0]
                areaOffset = inside
            } else {
                let stripe = inside / segment.stripeBytes
                let within = inside % segment.stripeBytes
                area = segment.areas[Int(stripe % UInt64(segment.areas.count))]
                areaOffset = (stripe / UInt64(segment.areas.count)) * segment.stripeBytes + within
                count = min(count, segment.stripeBytes - within)
            }
            try area.reader.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done..<(done + Int(count))]),
                                 at: area.offset + areaOffset)
            done += Int(count)
        }
    }

    func extents(from offset: UInt64, length: UInt64) throws -> [ImageExtent] {
        [ImageExtent(offset: offset, length: length, kind: .data)]
    }
}

/// A window of another disk: a partition, read as a disk of its own.
struct SliceReader: DiskImageReader {
    let base: any DiskImageReader
    let offset: UInt64
    let size: UInt64

    var path: String { base.path + "@\(offset)" }
    var virtualSize: UInt64 { size }

    func read(into buffer: UnsafeMutableRawBufferPointer, at position: UInt64) throws {
        try checkRange(position, buffer.count)
        try base.read(into: buffer, at: offset + position)
    }

    func extents(from position: UInt64, length: UInt64) throws -> [ImageExtent] {
        [ImageExtent(offset: position, length: length, kind: .data)]
    }
}
