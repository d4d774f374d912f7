import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A domain made from a backup's stored domain XML: the same VM (CPU,
/// memory, firmware, devices) under a new name and UUID, its backed-up disks
/// read from NBD exports (instant recovery) or from restored files (VM
/// restore), its NICs with new MAC addresses unless kept. What belonged to
/// the running original is dropped: runtime ids and aliases, security
/// labels, CD-ROM media, NVRAM, the paths of its sockets and logs.
public struct RecoveredDomain: Sendable {
    /// Where one disk of the new VM is read and written.
    public struct Disk: Sendable, Equatable {
        /// The guest's name for it in the stored XML (`vda`).
        public var target: String
        public var source: Source

        public init(target: String, source: Source) {
            self.target = target
            self.source = source
        }
    }

    public enum Source: Sendable, Equatable {
        /// An export on a unix socket (no file of QEMU's own: the overlay that takes the writes is the server's).
        case nbd(socket: String, exportName: String)
        /// A qcow2 file of its own.
        case qcow2File(String)
    }

    /// Where the new VM's NICs are attached.
    public enum Network: Sendable, Equatable {
        /// As the stored configuration says.
        case asStored
        /// No NIC at all: an isolated VM.
        case none
        /// Every NIC on this libvirt network.
        case libvirt(String)
    }

    /// `kvm` or `qemu`: what the stored XML asks of the host.
    public let domainType: String
    /// Targets of stored disks that have no export and were left out (not backed up).
    public let leftOut: [String]
    public let xml: String

    /// `consoleLog`: where the first serial port writes (a recovered VM's
    /// log, kept by the hub); nil for a VM of its own, whose file ports
    /// become ptys. `keepMACs`: the NICs keep the original's MAC addresses
    /// (a VM restored to replace the lost original); else libvirt makes new ones.
    /// `withScreen`: a VM without a video device gets a VGA one, so its screen
    /// can be captured (instant recoveries: the Recoveries page, boot checks).
    public init(storedXML: String, name: String, disks: [Disk], consoleLog: String?, network: Network, keepMACs: Bool = false,
                withScreen: Bool = false, description: String) throws {
        let document = try XMLDocument(xmlString: storedXML, options: [])
        guard let root = document.rootElement(), root.name == "domain" else { throw Self.invalid("it has no <domain> element") }
        let type = root.attribute(forName: "type")?.stringValue ?? ""
        guard ["kvm", "qemu"].contains(type) else { throw Self.invalid("its type is \"\(type)\"; only kvm and qemu domains can be recovered") }
        domainType = type
        root.removeAttribute(forName: "id")
        Self.replaceChild(of: root, named: "name", with: XMLElement(name: "name", stringValue: name))
        Self.replaceChild(of: root, named: "description", with: XMLElement(name: "description", stringValue: description))
        for unwanted in ["uuid", "seclabel"] { Self.removeChildren(of: root, named: unwanted) }
        // NVRAM is the original's file (and not in the backup): libvirt makes a fresh one from its template.
        if let os = root.elements(forName: "os").first { Self.removeChildren(of: os, named: "nvram") }
        Self.removeDescendants(of: root, named: "alias")
        guard let devices = root.elements(forName: "devices").first else { throw Self.invalid("it has no <devices>") }

        var exports = Dictionary(disks.map { ($0.target, $0) }, uniquingKeysWith: { first, _ in first })
        var leftOut: [String] = []
        for disk in devices.elements(forName: "disk") {
            let device = disk.attribute(forName: "device")?.stringValue ?? "disk"
            let target = disk.elements(forName: "target").first?.attribute(forName: "dev")?.stringValue ?? ""
            guard device == "disk" else {
                // A CD-ROM or floppy stays, empty: its medium is not the VM's and may not exist here.
                for child in ["source", "backingStore"] { Self.removeChildren(of: disk, named: child) }
                continue
            }
            guard let export = exports.removeValue(forKey: target) else {
                leftOut.append(target)
                disk.detach()
                continue
            }
            switch export.source {
            case .nbd(let socket, let exportName): Self.publish(disk, socket: socket, exportName: exportName)
            case .qcow2File(let path): Self.attach(disk, file: path)
            }
        }
        guard exports.isEmpty else { throw Self.invalid("it has no disk \(exports.keys.sorted().joined(separator: ", "))") }
        self.leftOut = leftOut

        for interface in devices.elements(forName: "interface") {
            // libvirt gives each NIC a new host-side device, and a new MAC address unless it is kept.
            for child in keepMACs ? ["target"] : ["mac", "target"] { Self.removeChildren(of: interface, named: child) }
            switch network {
            case .asStored: break
            case .none: interface.detach()
            case .libvirt(let name):
                Self.set("type", "network", on: interface)
                Self.removeChildren(of: interface, named: "source")
                let source = XMLElement(name: "source")
                source.setAttributesWith(["network": name])
                interface.insertChild(source, at: 0)
            }
        }
        Self.placeConsole(devices, log: consoleLog)
        for channel in devices.elements(forName: "channel") {
            // The original's socket paths: libvirt makes the recovered VM's own.
            if channel.attribute(forName: "type")?.stringValue == "unix" { Self.removeChildren(of: channel, named: "source") }
            channel.elements(forName: "target").first?.removeAttribute(forName: "state")
        }
        if withScreen && devices.elements(forName: "video").isEmpty {
            let video = XMLElement(name: "video")
            let model = XMLElement(name: "model")
            model.setAttributesWith(["type": "vga"])
            video.addChild(model)
            devices.addChild(video)
        }
        for graphics in devices.elements(forName: "graphics") where graphics.attribute(forName: "autoport")?.stringValue == "yes" {
            for attribute in ["port", "tlsPort", "websocket"] { graphics.removeAttribute(forName: attribute) }
        }
        xml = document.xmlString
    }

    /// The definition a recovered domain keeps once its disks are its own
    /// (after a migration): its live XML without what pointed into the
    /// session's `folder`, which goes with the session (a serial port's log
    /// or file; the port becomes a pty).
    public static func definition(liveXML: String, leaving folder: String) throws -> String {
        let document = try XMLDocument(xmlString: liveXML, options: [])
        guard let root = document.rootElement(), let devices = root.elements(forName: "devices").first else {
            throw invalid("it has no <devices>")
        }
        root.removeAttribute(forName: "id")
        func inFolder(_ path: String?) -> Bool { path?.hasPrefix(folder + "/") == true }
        for serial in devices.elements(forName: "serial") + devices.elements(forName: "console") {
            for log in serial.elements(forName: "log") where inFolder(log.attribute(forName: "file")?.stringValue) { log.detach() }
            if serial.elements(forName: "source").contains(where: { inFolder($0.attribute(forName: "path")?.stringValue) }) {
                removeChildren(of: serial, named: "source")
                set("type", "pty", on: serial)
            }
        }
        return document.xmlString
    }

    /// The `<disk>` a block copy writes: a new qcow2 file.
    public static func copyDestination(file: String) -> String {
        let disk = XMLElement(name: "disk")
        disk.setAttributesWith(["type": "file"])
        let source = XMLElement(name: "source")
        source.setAttributesWith(["file": file])
        let driver = XMLElement(name: "driver")
        driver.setAttributesWith(["type": "qcow2"])
        disk.addChild(source)
        disk.addChild(driver)
        return disk.xmlString
    }

    /// The disk read and written through NBD on a unix socket.
    private static func publish(_ disk: XMLElement, socket: String, exportName: String) {
        for child in ["source", "driver", "backingStore", "mirror", "readonly", "shareable"] { removeChildren(of: disk, named: child) }
        set("type", "network", on: disk)
        let driver = XMLElement(name: "driver")
        driver.setAttributesWith(["name": "qemu", "type": "raw", "discard": "unmap"])
        let source = XMLElement(name: "source")
        source.setAttributesWith(["protocol": "nbd", "name": exportName])
        let host = XMLElement(name: "host")
        host.setAttributesWith(["transport": "unix", "socket": socket])
        source.addChild(host)
        disk.insertChild(driver, at: 0)
        disk.insertChild(source, at: 1)
    }

    /// The disk in a qcow2 file; the original's driver options (cache, io,
    /// discard) stay, its format becomes the file's.
    private static func attach(_ disk: XMLElement, file: String) {
        for child in ["source", "backingStore", "mirror", "readonly", "shareable"] { removeChildren(of: disk, named: child) }
        set("type", "file", on: disk)
        let driver = disk.elements(forName: "driver").first ?? {
            let driver = XMLElement(name: "driver")
            disk.insertChild(driver, at: 0)
            return driver
        }()
        set("name", "qemu", on: driver)
        set("type", "qcow2", on: driver)
        let source = XMLElement(name: "source")
        source.setAttributesWith(["file": file])
        disk.insertChild(source, at: driver.index + 1)
    }

    /// Serial ports that wrote to the original's files: the first one writes
    /// to `log` (a file port is moved there, a pty keeps its console and logs
    /// there) or, with no log, becomes a pty; other file and socket ports are
    /// dropped (they would write over the original's). Consoles mirroring
    /// the first port are dropped too: libvirt adds them back.
    private static func placeConsole(_ devices: XMLElement, log path: String?) {
        for console in devices.elements(forName: "console")
        where (console.elements(forName: "target").first?.attribute(forName: "type")?.stringValue ?? "serial") == "serial" {
            console.detach()
        }
        for (index, serial) in devices.elements(forName: "serial").enumerated() {
            removeChildren(of: serial, named: "log")
            let type = serial.attribute(forName: "type")?.stringValue ?? "pty"
            guard index == 0 else {
                if type == "file" || type == "unix" { serial.detach() }
                continue
            }
            // A file port's path and a pty's device are the original's.
            if type == "file" || type == "pty" { removeChildren(of: serial, named: "source") }
            guard let path else {
                if type == "file" || type == "unix" {
                    removeChildren(of: serial, named: "source")
                    set("type", "pty", on: serial)
                }
                continue
            }
            if type == "file" {
                let source = XMLElement(name: "source")
                source.setAttributesWith(["path": path])
                serial.insertChild(source, at: 0)
            } else {
                let log = XMLElement(name: "log")
                log.setAttributesWith(["file": path, "append": "off"])
                serial.addChild(log)
            }
        }
    }

    /// Sets one attribute, keeping the others (`setAttributesWith` replaces them all).
    private static func set(_ name: String, _ value: String, on element: XMLElement) {
        element.removeAttribute(forName: name)
        element.addAttribute(XMLNode.attribute(withName: name, stringValue: value) as! XMLNode)
    }

    private static func replaceChild(of element: XMLElement, named name: String, with replacement: XMLElement) {
        if let existing = element.elements(forName: name).first {
            element.replaceChild(at: existing.index, with: replacement)
        } else {
            element.insertChild(replacement, at: 0)
        }
    }

    private static func removeChildren(of element: XMLElement, named name: String) {
        for child in element.elements(forName: name) { child.detach() }
    }

    private static func removeDescendants(of element: XMLElement, named name: String) {
        for child in element.children?.compactMap({ $0 as? XMLElement }) ?? [] {
            if child.name == name { child.detach() } else { removeDescendants(of: child, named: name) }
        }
    }

    private static func invalid(_ reason: String) -> LibvirtError {
        LibvirtError(code: -1, message: "the stored domain XML cannot be recovered: \(reason)")
    }
}
