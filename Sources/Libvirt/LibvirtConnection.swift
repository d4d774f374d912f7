import CLibvirt
import SendenseCore

/// A connection to a libvirt daemon (`qemu:///system`, `qemu+ssh://host/system`).
/// libvirt's calls block (they wait on the daemon), so every one runs on the
/// blocking pool; libvirt documents its connection objects as safe to share
/// between threads.
public final class LibvirtConnection: @unchecked Sendable {
    public let uri: String
    let pointer: virConnectPtr

    private init(uri: String, pointer: virConnectPtr) {
        self.uri = uri
        self.pointer = pointer
    }

    deinit { virConnectClose(pointer) }

    /// Opens `uri` read-write (backups and checkpoints change the domain).
    public static func open(_ uri: String) async throws -> LibvirtConnection {
        let target = (try? LibvirtURI(uri))?.connectionText ?? uri
        return try await BlockingPool.shared.run {
            sendense_libvirt_quiet_errors()
            guard let pointer = virConnectOpen(target) else { throw LibvirtError.last(doing: "connecting to \(uri)") }
            return LibvirtConnection(uri: uri, pointer: pointer)
        }
    }

    /// Every domain the daemon knows, running or not.
    public func domains() async throws -> [LibvirtDomain] {
        try await BlockingPool.shared.run { [self] in
            var list: UnsafeMutablePointer<virDomainPtr?>?
            let count = virConnectListAllDomains(pointer, &list, 0)
            guard count >= 0, let list else { throw LibvirtError.last(doing: "listing the domains of \(uri)") }
            defer { free(list) }
            return (0..<Int(count)).compactMap { list[$0].map { LibvirtDomain(owning: $0, connection: self) } }
        }
    }

    /// The domain with this UUID (what stays when a domain is renamed).
    public func domain(uuid: String) async throws -> LibvirtDomain {
        try await BlockingPool.shared.run { [self] in
            guard let domain = virDomainLookupByUUIDString(pointer, uuid) else {
                throw LibvirtError.last(doing: "looking up domain \(uuid) on \(uri)")
            }
            return LibvirtDomain(owning: domain, connection: self)
        }
    }

    public func domain(named name: String) async throws -> LibvirtDomain {
        try await BlockingPool.shared.run { [self] in
            guard let domain = virDomainLookupByName(pointer, name) else {
                throw LibvirtError.last(doing: "looking up domain \(name) on \(uri)")
            }
            return LibvirtDomain(owning: domain, connection: self)
        }
    }

    /// Starts a transient domain from `xml`: it exists while it runs, and
    /// nothing of it stays defined once it is destroyed.
    public func startTransientDomain(xml: String) async throws -> LibvirtDomain {
        try await BlockingPool.shared.run { [self] in
            guard let domain = virDomainCreateXML(pointer, xml, 0) else { throw LibvirtError.last(doing: "starting a domain on \(uri)") }
            return LibvirtDomain(owning: domain, connection: self)
        }
    }

    /// The user and group QEMU runs as for domains of `type` (`kvm`, `qemu`):
    /// the DAC base label of the host's capabilities; nil where there is none
    /// (a session daemon runs QEMU as its own user).
    public func qemuProcessOwner(domainType: String) async throws -> (uid: UInt32, gid: UInt32)? {
        let xml = try await BlockingPool.shared.run { [self] in
            guard let text = virConnectGetCapabilities(pointer) else { throw LibvirtError.last(doing: "reading the capabilities of \(uri)") }
            defer { free(text) }
            return String(cString: text)
        }
        return try DomainDescription.baseLabel(inCapabilities: xml, domainType: domainType)
    }

    /// Defines a domain (a new one, or a running transient domain made
    /// persistent with this XML as its definition).
    @discardableResult
    public func define(xml: String) async throws -> LibvirtDomain {
        try await BlockingPool.shared.run { [self] in
            guard let domain = virDomainDefineXML(pointer, xml) else { throw LibvirtError.last(doing: "defining a domain on \(uri)") }
            return LibvirtDomain(owning: domain, connection: self)
        }
    }

    /// The folder of a storage pool whose volumes are files (types `dir`,
    /// `fs`, `netfs`), which must be active: a restore writes its disks there.
    public func storagePoolFolder(named name: String) async throws -> String {
        let xml = try await BlockingPool.shared.run { [self] in
            guard let pool = virStoragePoolLookupByName(pointer, name) else { throw LibvirtError.last(doing: "looking up storage pool \(name) on \(uri)") }
            defer { virStoragePoolFree(pool) }
            guard virStoragePoolIsActive(pool) == 1 else {
                throw LibvirtError(code: Int(VIR_ERR_OPERATION_INVALID.rawValue), message: "storage pool \(name) is not active (virsh pool-start \(name))")
            }
            guard let text = virStoragePoolGetXMLDesc(pool, 0) else { throw LibvirtError.last(doing: "reading storage pool \(name)") }
            defer { free(text) }
            return String(cString: text)
        }
        return try StoragePoolDescription(xml: xml, name: name).folder
    }

    /// Has the pool list its volumes again (files written into its folder).
    public func refreshStoragePool(named name: String) async throws {
        try await BlockingPool.shared.run { [self] in
            guard let pool = virStoragePoolLookupByName(pointer, name) else { throw LibvirtError.last(doing: "looking up storage pool \(name) on \(uri)") }
            defer { virStoragePoolFree(pool) }
            guard virStoragePoolRefresh(pool, 0) == 0 else { throw LibvirtError.last(doing: "refreshing storage pool \(name)") }
        }
    }
}
