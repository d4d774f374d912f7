import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// What a storage pool's XML says about where its volumes live. Only pools
/// whose volumes are files in a folder take restored disks: other kinds
/// (LVM, iSCSI, RBD) would need each volume created and uploaded through
/// libvirt.
public struct StoragePoolDescription: Sendable, Equatable {
    /// `dir`, `fs`, `netfs`, `logical`, …
    public var type: String
    /// Its `<target><path>`.
    public var folder: String

    static let fileTypes = ["dir", "fs", "netfs"]

    public init(xml: String, name: String) throws {
        let document = try XMLDocument(xmlString: xml, options: [])
        guard let root = document.rootElement(), root.name == "pool" else {
            throw LibvirtError(code: -1, message: "storage pool \(name)'s XML has no <pool> element")
        }
        type = root.attribute(forName: "type")?.stringValue ?? ""
        guard Self.fileTypes.contains(type) else {
            throw LibvirtError(code: -1, message: "storage pool \(name) is of type \(type); a restore writes its disks only into pools of files ("
                + Self.fileTypes.joined(separator: ", ") + ")")
        }
        guard let path = try root.nodes(forXPath: "target/path").first?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines),
              path.hasPrefix("/") else {
            throw LibvirtError(code: -1, message: "storage pool \(name) names no folder (<target><path>)")
        }
        folder = path
    }
}
