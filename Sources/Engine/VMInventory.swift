import BackupSources
import Catalog
import Foundation
import Repository
import SendenseCore

/// The VMs the hub protects: registering a VM made of image files, and the
/// ids their contexts get.
public enum VMInventory {
    /// A disk image of a VM to register.
    public struct ImageDisk: Sendable {
        public var path: String
        public var label: String?

        public init(path: String, label: String?) {
            self.path = path
            self.label = label
        }
    }

    /// Registers a VM made of image files (`qemu_image`, the only source
    /// type registered by hand; `sourceType` is the request's word). Every
    /// file is checked with qemu-img before anything is recorded.
    public static func registerImageVM(name: String, sourceType: String, disks given: [ImageDisk],
                                       catalog: CatalogDatabase) async throws -> VMContextRecord {
        if let problem = NameRules.problem(with: name, field: "vm_name") { throw VMRegistrationError.invalid(problem) }
        guard sourceType == SourceKind.qemuImage.rawValue else { throw VMRegistrationError.notRegistrable(sourceType) }
        guard !given.isEmpty, given.count <= 64 else { throw VMRegistrationError.invalid("source.disks must list 1 to 64 disk images") }
        var disks: [QemuImageSource.Disk] = []
        for (index, disk) in given.enumerated() {
            guard disk.path.isAbsolutePath, !disk.path.utf8.contains(0) else {
                throw VMRegistrationError.invalid("source.disks[\(index)].path must be an absolute path")
            }
            let label = disk.label ?? "disk\(index)"
            if let problem = NameRules.problem(with: label, field: "source.disks[\(index)].label") { throw VMRegistrationError.invalid(problem) }
            disks.append(.init(index: index, path: disk.path, label: label))
        }
        let inspected: [SourceDisk]
        do {
            inspected = try await QemuImageSource(disks: disks, socketDirectory: "").disks()
        } catch let error as SourceError {
            throw VMRegistrationError.unusableDisk(error.description)
        }
        if try await catalog.vmContext(named: name) != nil { throw VMRegistrationError.nameTaken(name) }
        let now = Date()
        var context = VMContextRecord(contextId: contextID(for: name, at: now), vmName: name, sourceType: .qemuImage, now: now)
        context.vmPath = disks.first?.path
        context.powerState = "poweredOff"
        context.sourceJson = String(decoding: try JSONEncoder().encode(disks), as: UTF8.self)
        let rows = inspected.map {
            VMDiskRecord(contextId: context.contextId, diskIndex: $0.index, label: $0.label, capacityBytes: Int64($0.capacityBytes), path: $0.location)
        }
        try await catalog.insertVMContext(context, disks: rows)
        return context
    }

    /// `ctx-<vm key>-<UTC yyyyMMdd-HHmmss>`, as API.md shows context ids.
    public static func contextID(for vmName: String, at date: Date) -> String {
        let stamp = date.formatted(Date.VerbatimFormatStyle(
            format: "\(year: .defaultDigits)\(month: .twoDigits)\(day: .twoDigits)-\(hour: .twoDigits(clock: .twentyFourHour, hourCycle: .zeroBased))\(minute: .twoDigits)\(second: .twoDigits)",
            timeZone: .gmt, calendar: Calendar(identifier: .gregorian)))
        return "ctx-\(BackupLayout.vmKey(for: vmName))-\(stamp)"
    }
}

/// Why a VM cannot be registered as described.
public enum VMRegistrationError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(String)
    /// VMware VMs and libvirt domains are added through discovery.
    case notRegistrable(String)
    /// A disk image is missing, unreadable, or of a format that cannot be backed up.
    case unusableDisk(String)
    case nameTaken(String)
    /// The VM's host does not know it.
    case notFound(String)
    /// The VM's host (a libvirt daemon) cannot be reached.
    case sourceUnreachable(String)

    public var description: String {
        switch self {
        case .invalid(let message), .unusableDisk(let message), .notFound(let message): message
        case .sourceUnreachable(let message): "cannot reach libvirt: \(message)"
        case .notRegistrable(let type): "source type \(type) cannot be registered here; VMware VMs and libvirt domains are added through discovery"
        case .nameTaken(let name): "a VM named \(name) already exists"
        }
    }
}
