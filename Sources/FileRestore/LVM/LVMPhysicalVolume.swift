import DiskImage

/// An LVM2 physical volume found on a disk or partition: its label, and
/// the newest copy of its volume group's metadata (text, see `LVMText`).
/// On-disk layout as LVM2 writes it (lib/format_text/layout.h): a label
/// sector ("LABELONE", type "LVM2 001") in the first four sectors, a PV
/// header (UUID, data and metadata areas), and a metadata area whose header
/// (" LVM2 x[5A%r0N*>") points at the current text in a circular buffer.
struct LVMPhysicalVolume {
    /// The PV's UUID, 32 characters without dashes.
    let uuid: String
    let reader: any DiskImageReader
    /// The volume group metadata text this PV carries (nil: it has no metadata area).
    let metadata: [UInt8]?

    static let labelID = Array("LABELONE".utf8)
    static let labelType = Array("LVM2 001".utf8)
    static let metadataMagic = Array(" LVM2 x[5A%r0N*>".utf8)

    /// The PV on `reader`, or nil when it holds no LVM2 label.
    /// - Throws: when a label is there but what it points at is unreadable.
    static func find(on reader: any DiskImageReader) throws -> LVMPhysicalVolume? {
        guard reader.virtualSize >= 4 * 512 else { return nil }
        let head = try reader.read(count: 4 * 512, at: 0)
        for sector in 0..<4 {
            let label = Array(head[(sector * 512)..<((sector + 1) * 512)])
            guard Array(label[0..<8]) == labelID, Array(label[24..<32]) == labelType else { continue }
            let headerOffset = Int(label.le32(at: 20))
            guard headerOffset >= 32, headerOffset + 40 <= 512 else { throw LVMError.damaged("the PV label's header offset \(headerOffset)") }
            return try read(label: label, header: headerOffset, sector: sector, reader: reader)
        }
        return nil
    }

    private static func read(label: [UInt8], header: Int, sector: Int, reader: any DiskImageReader) throws -> LVMPhysicalVolume {
        let uuid = String(decoding: label[header..<(header + 32)], as: UTF8.self)
        // After the UUID and device size: data areas, then metadata areas,
        // each list of (offset, size) ended by a zero offset. The lists may
        // run past the label sector's end in theory; LVM keeps them inside.
        var position = header + 40
        var metadataAreas: [(offset: UInt64, size: UInt64)] = []
        var list = 0
        while list < 2 && position + 16 <= 512 {
            let offset = label.le64(at: position), size = label.le64(at: position + 8)
            position += 16
            if offset == 0 { list += 1; continue }
            if list == 1 { metadataAreas.append((offset, size)) }
        }
        var metadata: [UInt8]?
        for area in metadataAreas {
            if let text = try readMetadata(area: area, reader: reader) { metadata = text; break }
        }
        return LVMPhysicalVolume(uuid: uuid, reader: reader, metadata: metadata)
    }

    /// The current metadata text of one metadata area.
    private static func readMetadata(area: (offset: UInt64, size: UInt64), reader: any DiskImageReader) throws -> [UInt8]? {
        guard area.size >= 1024, area.offset <= reader.virtualSize, area.size <= reader.virtualSize - area.offset else {
            throw LVMError.damaged("a metadata area at \(area.offset) of \(area.size) bytes")
        }
        let header = try reader.read(count: 512, at: area.offset)
        guard Array(header[4..<20]) == metadataMagic else { return nil }
        let textOffset = header.le64(at: 40), textSize = header.le64(at: 48)
        guard textSize > 0 else { return nil }
        let ring = area.size - 512
        guard textOffset >= 512, textOffset < area.size, textSize <= ring, textSize <= UInt64(LVMText.maxBytes) else {
            throw LVMError.damaged("metadata text at \(textOffset) of \(textSize) bytes")
        }
        // The text may wrap around the end of the area's circular buffer.
        let first = min(textSize, area.size - textOffset)
        var text = try reader.read(count: Int(first), at: area.offset + textOffset)
        if first < textSize {
            text += try reader.read(count: Int(textSize - first), at: area.offset + 512)
        }
        return text
    }
}

enum LVMError: Error, CustomStringConvertible {
    case damaged(String)
    case unsupported(String)

    var description: String {
        switch self {
        case .damaged(let what): "damaged LVM2 metadata: \(what)"
        case .unsupported(let what): what
        }
    }
}
