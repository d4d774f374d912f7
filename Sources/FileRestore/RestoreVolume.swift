import Foundation

/// A partition (or the whole disk, when it holds a bare filesystem) as a
/// restore session shows it.
public struct RestoreVolume: Sendable, Equatable, Codable {
    /// 1-based, in the order the root lists volumes (a partition's folder
    /// name shows its number in the partition table).
    public var index: Int
    /// The folder name at the session's root: `Partition 1 - Recovery (1.5 GB)`.
    public var name: String
    public var offsetBytes: UInt64
    public var sizeBytes: UInt64
    /// libtsk's name for the filesystem (`ntfs`, `ext4`, `fat32` …) or `unsupported`.
    public var filesystemType: String
    /// GPT partition name or filesystem label, when there is one.
    public var label: String?
    /// Why the filesystem cannot be read, for `unsupported` ones.
    public var unsupportedReason: String?

    /// `1.5 GB`, `512.0 MB`: binary units, as Windows Explorer shows sizes.
    public static func displaySize(_ bytes: UInt64) -> String {
        let units = ["KB", "MB", "GB", "TB", "PB"]
        var value = Double(bytes) / 1024
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(Int(value.rounded(.up))) KB" : "\((value * 10).rounded() / 10) \(units[unit])"
    }

    /// A logical volume's folder: `vgdata-root (24.0 MB)`, as /dev/mapper names it.
    static func folderName(label: String, size: UInt64) -> String {
        let clean = String(label.unicodeScalars.filter { $0.value >= 0x20 && $0 != "/" && $0.value != 0x7f })
        return "\(clean) (\(displaySize(size)))"
    }

    static func folderName(index: Int, label: String?, size: UInt64) -> String {
        // A label becomes part of a path component: no slashes, no control characters.
        let clean = label.map { String($0.unicodeScalars.filter { $0.value >= 0x20 && $0 != "/" && $0.value != 0x7f }) }
        if let clean, !clean.trimmingCharacters(in: .whitespaces).isEmpty {
            return "Partition \(index) - \(clean.trimmingCharacters(in: .whitespaces)) (\(displaySize(size)))"
        }
        return "Partition \(index) (\(displaySize(size)))"
    }
}
