import BackupSources
import Catalog
import Foundation
import Libvirt
import SendenseCore

/// The domains of a libvirt host (this machine's, or another reached
/// through SSH: `LibvirtURI`), and turning them into VM contexts.
public enum LibvirtInventory {
    /// Where discovery looks when no URI is given.
    public static let defaultURI = LibvirtURI.local[0]

    /// A domain as discovery shows it.
    public struct Domain: Sendable {
        public struct Disk: Sendable {
            public var target: String
            public var path: String?
            public var format: String?
            public var capacityBytes: UInt64?
            /// Why it cannot be backed up (a network disk), nil when it can.
            public var problem: String?
        }

        public var name: String
        public var uuid: String
        public var running: Bool
        public var vcpus: Int
        public var memoryMB: Int
        public var firmware: String
        public var disks: [Disk]
    }

    public static func checkURI(_ uri: String) throws {
        do {
            _ = try LibvirtURI(uri)
        } catch let invalid as LibvirtURI.Invalid {
            throw VMRegistrationError.invalid(invalid.description)
        }
    }

    /// Every domain of `uri`, running or not, with its disks.
    public static func domains(uri: String) async throws -> [Domain] {
        try checkURI(uri)
        let connection = try await connect(uri)
        var found: [Domain] = []
        for domain in try await connection.domains() {
            // A domain undefined while we look is simply not listed.
            guard let described = try? await describe(domain) else { continue }
            found.append(described)
        }
        return found.sorted { $0.name < $1.name }
    }

    /// Adds (or refreshes) the VM contexts of the named domains, each named
    /// as its domain; every disk that can be backed up is chosen.
    public static func add(uri: String, domains names: [String], catalog: CatalogDatabase) async throws -> [VMContextRecord] {
        try checkURI(uri)
        let connection = try await connect(uri)
        var described: [Domain] = []
        for name in names {
            let domain: LibvirtDomain
            do {
                domain = try await connection.domain(named: name)
            } catch let error as LibvirtError where error.code == LibvirtError.noDomain {
                throw VMRegistrationError.notFound("no domain \(name) on \(uri)")
            }
            described.append(try await describe(domain))
        }
        var saved: [VMContextRecord] = []
        for domain in described {
            if let problem = NameRules.problem(with: domain.name, field: "domain name") { throw VMRegistrationError.invalid(problem) }
            let usable = domain.disks.filter { $0.problem == nil }
            guard !usable.isEmpty else {
                throw VMRegistrationError.unusableDisk("domain \(domain.name) has no disk that can be backed up: "
                    + domain.disks.map { "\($0.target): \($0.problem ?? "")" }.joined(separator: "; "))
            }
            let existing = try await catalog.vmContext(named: domain.name)
            let before = existing?.sourceJson.flatMap(decode)
            if let existing, existing.sourceType != .libvirt || before?.uuid != domain.uuid {
                throw VMRegistrationError.nameTaken(domain.name)
            }
            // A disk keeps its index (and so its chain) while its target exists; a new one gets the next.
            var next = (before?.disks.map(\.index).max() ?? -1) + 1
            let disks = usable.map { disk in
                if let known = before?.disks.first(where: { $0.target == disk.target }) { return known }
                defer { next += 1 }
                return LibvirtSource.Disk(index: next, target: disk.target)
            }
            let reference = LibvirtSource.Reference(uri: uri, uuid: domain.uuid, disks: disks)
            let now = Date()
            var context = existing ?? VMContextRecord(contextId: VMInventory.contextID(for: domain.name, at: now), vmName: domain.name,
                                                      sourceType: .libvirt, now: now)
            context.vmPath = "\(uri) \(domain.uuid)"
            context.powerState = domain.running ? "poweredOn" : "poweredOff"
            context.cpuCount = domain.vcpus
            context.memoryMb = domain.memoryMB
            context.sourceJson = String(decoding: try JSONEncoder().encode(reference), as: UTF8.self)
            context.updatedAt = now
            let rows = zip(reference.disks, usable).map { disk, described in
                VMDiskRecord(contextId: context.contextId, diskIndex: disk.index, label: disk.target,
                             capacityBytes: Int64(clamping: described.capacityBytes ?? 0), path: described.path ?? "")
            }
            if existing == nil {
                try await catalog.insertVMContext(context, disks: rows)
            } else {
                try await catalog.updateVMContext(context, disks: rows)
            }
            saved.append(context)
        }
        return saved
    }

    /// The source a libvirt VM context describes, for the disks chosen.
    public static func source(for context: VMContextRecord, disks: [VMDiskRecord], runDirectory: String) throws -> LibvirtSource {
        guard let reference = context.sourceJson.flatMap(decode) else {
            throw BackupError.sourceUnavailable("VM \(context.vmName) records no libvirt domain; add it again through discovery")
        }
        let chosen = Set(disks.map(\.diskIndex))
        return LibvirtSource(reference: .init(uri: reference.uri, uuid: reference.uuid, disks: reference.disks.filter { chosen.contains($0.index) }),
                             runDirectory: runDirectory)
    }

    static func decode(_ json: String) -> LibvirtSource.Reference? {
        try? JSONDecoder().decode(LibvirtSource.Reference.self, from: Data(json.utf8))
    }

    private static func connect(_ uri: String) async throws -> LibvirtConnection {
        do {
            return try await LibvirtConnection.open(uri)
        } catch let error as LibvirtError {
            throw VMRegistrationError.sourceUnreachable(error.message)
        }
    }

    private static func describe(_ domain: LibvirtDomain) async throws -> Domain {
        let running = try await domain.isActive()
        let description = try DomainDescription(xml: try await domain.xml(inactive: !running))
        var disks: [Domain.Disk] = []
        for disk in description.disks {
            var problem: String?
            if disk.path == nil || !["file", "block"].contains(disk.sourceType) {
                problem = "a \(disk.sourceType) disk (only image files and block devices are backed up)"
            } else if disk.readOnly {
                problem = "read-only"
            }
            disks.append(Domain.Disk(target: disk.target, path: disk.path, format: disk.format,
                                     capacityBytes: try? await domain.capacity(of: disk.target), problem: problem))
        }
        return Domain(name: description.name, uuid: description.uuid, running: running, vcpus: description.vcpus,
                      memoryMB: Int(description.memoryKiB / 1024), firmware: description.firmware, disks: disks)
    }
}
