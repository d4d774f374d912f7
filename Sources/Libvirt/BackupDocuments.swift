import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// The XML documents of a pull-mode backup (libvirt's formatbackup and
/// formatcheckpoint): which disks, which checkpoint to read changes from,
/// where QEMU's NBD server listens, and the checkpoint to take.
public enum BackupDocuments {
    public struct Disk: Sendable, Equatable {
        public var target: String
        /// The NBD export's name.
        public var exportName: String
        /// Where QEMU keeps the blocks the guest overwrites while the backup reads (fleecing), on the domain's host.
        public var scratchFile: String
        /// The checkpoint whose changes are copied; nil: the whole disk.
        public var incremental: String?
        public init(target: String, exportName: String, scratchFile: String, incremental: String?) {
            self.target = target
            self.exportName = exportName
            self.scratchFile = scratchFile
            self.incremental = incremental
        }
    }

    /// Where QEMU's NBD server listens.
    public enum Server: Sendable, Equatable {
        case unix(socket: String)
        /// On the domain's host (libvirt 9 needs the port given).
        case tcp(host: String, port: Int)
    }

    /// Backs up `disks` (every other disk of the domain is left out), each
    /// whole or changed since its own checkpoint (libvirt 7.6's per-disk
    /// `backupmode`), served by `server` under its `exportName`; its changed blocks are the meta context `qemu:dirty-bitmap:backup-<disk>`.
    public static func pullBackup(disks: [Disk], allDisks: [String], server: Server) -> String {
        var xml = "<domainbackup mode='pull'>"
        switch server {
        case .unix(let socket): xml += "<server transport='unix' socket='\(escaped(socket))'/>"
        case .tcp(let host, let port): xml += "<server transport='tcp' name='\(escaped(host))' port='\(port)'/>"
        }
        xml += "<disks>"
        for disk in disks {
            let mode = disk.incremental.map { "backupmode='incremental' incremental='\(escaped($0))'" } ?? "backupmode='full'"
            xml += "<disk name='\(escaped(disk.target))' backup='yes' type='file' \(mode) exportname='\(escaped(disk.exportName))'"
                + " exportbitmap='\(escaped(bitmapName(disk.target)))'>"
                + "<scratch file='\(escaped(disk.scratchFile))'/></disk>"
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

    /// The export names of a running pull-mode backup (its XML, from `virDomainBackupGetXMLDesc`).
    public static func exportNames(inBackupXML xml: String) -> [String] {
        let document = try? XMLDocument(xmlString: xml, options: [])
        return ((try? document?.nodes(forXPath: "/domainbackup/disks/disk/@exportname")) ?? []).compactMap(\.stringValue)
    }

    /// A backup's export of `target`: named after the backup too, so a job
    /// left behind is known as the one of that backup.
    public static func exportName(backupID: String, target: String) -> String { "\(backupID)/\(target)" }

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
