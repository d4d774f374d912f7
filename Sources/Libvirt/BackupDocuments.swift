/// The XML documents of a pull-mode backup (libvirt's formatbackup and
/// formatcheckpoint): which disks, which checkpoint to read changes from,
/// where QEMU's NBD server listens, and the checkpoint to take.
public enum BackupDocuments {
    public struct Disk: Sendable, Equatable {
        public var target: String
        /// Where QEMU keeps the blocks the guest overwrites while the backup reads (fleecing).
        public var scratchFile: String
        /// The checkpoint whose changes are copied; nil: the whole disk.
        public var incremental: String?
        public init(target: String, scratchFile: String, incremental: String?) {
            self.target = target
            self.scratchFile = scratchFile
            self.incremental = incremental
        }
    }

    /// Backs up `disks` (every other disk of the domain is left out), each
    /// whole or changed since its own checkpoint (libvirt 7.6's per-disk
    /// `backupmode`), served on a unix socket. Each export is named after its
    /// disk; its changed blocks are the meta context `qemu:dirty-bitmap:backup-<disk>`.
    public static func pullBackup(disks: [Disk], allDisks: [String], socket: String) -> String {
        var xml = "<domainbackup mode='pull'><server transport='unix' socket='\(escaped(socket))'/><disks>"
        for disk in disks {
            let mode = disk.incremental.map { "backupmode='incremental' incremental='\(escaped($0))'" } ?? "backupmode='full'"
            xml += "<disk name='\(escaped(disk.target))' backup='yes' type='file' \(mode) exportname='\(escaped(disk.target))'"
                + " exportbitmap='\(escaped(bitmapName(disk.target)))'><scratch file='\(escaped(disk.scratchFile))'/></disk>"
        }
        for target in allDisks where !disks.contains(where: { $0.target == target }) {
            xml += "<disk name='\(escaped(target))' backup='no'/>"
        }
        return xml + "</disks></domainbackup>"
    }

    /// A checkpoint named `name` that tracks `disks` (a bitmap each) and no other disk.
    public static func checkpoint(name: String, disks: [String], allDisks: [String]) -> String {
        var xml = "<domaincheckpoint><name>\(escaped(name))</name><disks>"
        for target in allDisks {
            xml += "<disk name='\(escaped(target))' checkpoint='\(disks.contains(target) ? "bitmap" : "no")'/>"
        }
        return xml + "</disks></domaincheckpoint>"
    }

    /// The name the changed-blocks bitmap of `disk` is exported under.
    public static func bitmapName(_ disk: String) -> String { "backup-\(disk)" }

    static func escaped(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "'": out += "&apos;"
            case "\"": out += "&quot;"
            default: out.append(character)
            }
        }
        return out
    }
}
