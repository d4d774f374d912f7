import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// What a domain's XML says about the VM: enough to list it and back up its
/// disks (the XML itself is kept with every backup, to recreate the VM).
public struct DomainDescription: Sendable, Equatable {
    public struct Disk: Sendable, Equatable {
        /// The guest's name for it: `vda`, `sdb`.
        public var target: String
        /// `file`, `block`, `network`, `volume`.
        public var sourceType: String
        /// The image file or block device; nil for network and pool volumes.
        public var path: String?
        /// `qcow2`, `raw`.
        public var format: String?
        public var readOnly: Bool
    }

    public var name: String
    public var uuid: String
    public var vcpus: Int
    public var memoryKiB: UInt64
    /// `efi` when the domain boots UEFI, `bios` otherwise.
    public var firmware: String
    /// Disks the guest sees as disks (not CD-ROMs or floppies), in XML order.
    public var disks: [Disk]
    /// The user and group a running domain's QEMU runs as (its DAC label):
    /// files QEMU must create for a backup go in a folder they own.
    public var processOwner: (uid: UInt32, gid: UInt32)? {
        dacLabel.flatMap(Self.ownerOf(label:))
    }
    private var dacLabel: String?

    public init(xml: String) throws {
        let document = try XMLDocument(xmlString: xml, options: [])
        guard let root = document.rootElement(), root.name == "domain" else {
            throw LibvirtError(code: -1, message: "a domain's XML has no <domain> element")
        }
        func text(_ path: String) -> String? { (try? root.nodes(forXPath: path))?.first?.stringValue }
        name = text("name") ?? ""
        uuid = text("uuid") ?? ""
        vcpus = text("vcpu").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } ?? 1
        memoryKiB = Self.kibibytes(root.elements(forName: "memory").first)
        let os = root.elements(forName: "os").first
        let loader = os?.elements(forName: "loader").first
        firmware = os?.attribute(forName: "firmware")?.stringValue == "efi" || loader?.attribute(forName: "type")?.stringValue == "pflash"
            ? "efi" : "bios"
        dacLabel = (try? root.nodes(forXPath: "seclabel[@model='dac']/label"))?.first?.stringValue
        let devices = root.elements(forName: "devices").first
        disks = (devices?.elements(forName: "disk") ?? []).compactMap { element in
            guard (element.attribute(forName: "device")?.stringValue ?? "disk") == "disk",
                  let target = element.elements(forName: "target").first?.attribute(forName: "dev")?.stringValue else { return nil }
            let source = element.elements(forName: "source").first
            let sourceType = element.attribute(forName: "type")?.stringValue ?? "file"
            let path = sourceType == "block" ? source?.attribute(forName: "dev")?.stringValue
                : sourceType == "file" ? source?.attribute(forName: "file")?.stringValue : nil
            return Disk(target: target, sourceType: sourceType, path: path,
                        format: element.elements(forName: "driver").first?.attribute(forName: "type")?.stringValue,
                        readOnly: !element.elements(forName: "readonly").isEmpty)
        }
    }

    /// The DAC base label libvirt's capabilities give domains of `domainType`,
    /// as a user and group (`<baselabel type='kvm'>+64055:+64055</baselabel>`).
    static func baseLabel(inCapabilities xml: String, domainType: String) throws -> (uid: UInt32, gid: UInt32)? {
        let document = try XMLDocument(xmlString: xml, options: [])
        let labels = try document.nodes(forXPath: "//secmodel[model='dac']/baselabel[@type='\(domainType)']")
        guard let label = labels.first?.stringValue else { return nil }
        return ownerOf(label: label)
    }

    /// `+64055:+994` (or `64055:994`) as numbers.
    static func ownerOf(label: String) -> (uid: UInt32, gid: UInt32)? {
        let parts = label.split(separator: ":").map { $0.hasPrefix("+") ? $0.dropFirst() : $0 }
        guard parts.count == 2, let uid = UInt32(parts[0]), let gid = UInt32(parts[1]) else { return nil }
        return (uid, gid)
    }

    /// `<memory unit='MiB'>256</memory>` in KiB (libvirt's default unit).
    private static func kibibytes(_ element: XMLElement?) -> UInt64 {
        guard let element, let value = UInt64(element.stringValue?.trimmingCharacters(in: .whitespaces) ?? "") else { return 0 }
        let factors: [String: UInt64] = ["b": 1, "bytes": 1, "k": 1024, "KiB": 1024, "KB": 1000, "M": 1 << 20, "MiB": 1 << 20, "MB": 1_000_000,
                                         "G": 1 << 30, "GiB": 1 << 30, "GB": 1_000_000_000]
        let unit = element.attribute(forName: "unit")?.stringValue ?? "KiB"
        return value.multipliedReportingOverflow(by: factors[unit] ?? 1024).partialValue / 1024
    }
}
