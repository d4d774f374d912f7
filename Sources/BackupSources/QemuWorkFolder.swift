import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The folder a running QEMU works in for one live backup:
/// `/run/sendense/<hub>/<backup id>`, owned by the user QEMU runs as. QEMU
/// creates its NBD socket and opens its fleecing files in it; nobody else
/// can. Not under the hub's data folder: QEMU must be able to walk to it, and
/// a data folder is rightly closed to other users. One parent per hub (named
/// from its run directory), so hubs sharing a machine never clean up each
/// other's; a folder left there is a session a killed hub never ended.
public enum QemuWorkFolder {
    public static let root = "/run/sendense"

    public static func parent(runDirectory: String) -> String {
        root + "/" + shortName(runDirectory)
    }

    /// 64-bit FNV-1a in hex: a short name stable across runs (unlike Hasher's).
    static func shortName(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return String(hash, radix: 16)
    }

    /// The parent of instant recoveries' folders: apart from backups', which
    /// the cleanup of interrupted backups empties.
    public static func recoveryParent(runDirectory: String) -> String {
        parent(runDirectory: runDirectory) + "-recoveries"
    }

    public static func path(runDirectory: String, backupID: String) -> String {
        parent(runDirectory: runDirectory) + "/" + backupID
    }

    /// Makes the folder (afresh) and gives it to `owner`.
    static func make(runDirectory: String, backupID: String, owner: (uid: UInt32, gid: UInt32)?) throws -> String {
        try make(in: parent(runDirectory: runDirectory), name: backupID, owner: owner)
    }

    /// Makes `parent/name` (afresh) and gives it to `owner`.
    static func make(in parent: String, name: String, owner: (uid: UInt32, gid: UInt32)?) throws -> String {
        for path in [root, parent] where !FileManager.default.fileExists(atPath: path) {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o711])
        }
        let folder = parent + "/" + name
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        if let owner, chown(folder, owner.uid, owner.gid) != 0 {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: folder)
            throw SourceError.exportFailed("cannot give \(folder) to QEMU's user \(owner.uid): \(reason)")
        }
        return folder
    }
}
