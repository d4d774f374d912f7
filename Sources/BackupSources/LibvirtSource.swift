import Foundation
import Libvirt
import NBD
import SendenseCore

/// A libvirt domain. While it runs, libvirt's own backup API serves the
/// point in time: a pull-mode backup job (QEMU exports each disk over NBD on
/// a unix socket, or, on another host, on that host's loopback, which ssh
/// forwards here; fleecing what the guest overwrites into a scratch file)
/// started together with a checkpoint (a persistent dirty bitmap per qcow2
/// disk) that the next incremental reads its changes from. The guest agent
/// freezes the guest's filesystems for that instant when it answers. A
/// stopped domain is backed up through its image files (`QemuImageSource`),
/// with checkpoints of the same names.
public struct LibvirtSource: BackupSource {
    /// What the catalog keeps of a domain: where it lives and which disks are backed up.
    public struct Reference: Sendable, Codable, Equatable {
        public var uri: String
        /// Stays when the domain is renamed.
        public var uuid: String
        public var disks: [Disk]

        public init(uri: String, uuid: String, disks: [Disk]) {
            self.uri = uri
            self.uuid = uuid
            self.disks = disks
        }
    }

    public struct Disk: Sendable, Codable, Equatable {
        public var index: Int
        /// The guest's name for the disk (`vda`): what libvirt's backup and checkpoint XML name.
        public var target: String

        public init(index: Int, target: String) {
            self.index = index
            self.target = target
        }
    }

    public let reference: Reference
    /// Where sessions make the folder QEMU puts its socket and scratch files in.
    public let runDirectory: String
    /// Where the qemu-nbd servers of a stopped domain's sessions are recorded.
    public var processLog: (any ChildProcessLog)?

    public init(reference: Reference, runDirectory: String) {
        self.reference = reference
        self.runDirectory = runDirectory
    }

    /// The checkpoint names are the image source's: a domain backed up while
    /// stopped and while running keeps one set of `sendense-*` bitmaps.
    public static func checkpointName(for backupID: String) -> String { QemuImageSource.checkpointName(for: backupID) }

    /// How ssh reaches the domain's host; nil when it is this machine.
    var remote: LibvirtURI.SSH? { (try? LibvirtURI(reference.uri))?.ssh }

    public func disks() async throws -> [SourceDisk] {
        let domain = try await LibvirtConnection.open(reference.uri).domain(uuid: reference.uuid)
        let description = try DomainDescription(xml: try await domain.xml())
        var disks: [SourceDisk] = []
        for (disk, described) in try chosen(in: description) {
            disks.append(SourceDisk(index: disk.index, label: disk.target, capacityBytes: try await domain.capacity(of: disk.target),
                                    location: described.path ?? ""))
        }
        return disks
    }

    /// Each backed-up disk with what the domain's XML says of it now.
    func chosen(in description: DomainDescription) throws -> [(Disk, DomainDescription.Disk)] {
        try reference.disks.map { disk in
            guard let described = description.disks.first(where: { $0.target == disk.target }) else {
                throw SourceError.diskNotFound("\(disk.target) of domain \(description.name) (it was removed from the domain)")
            }
            guard described.path != nil, ["file", "block"].contains(described.sourceType) else {
                throw SourceError.unsupportedFormat(path: "\(description.name)/\(disk.target)", format: "a \(described.sourceType) disk")
            }
            return (disk, described)
        }
    }

    public func withSession<Result: Sendable>(
        backupID: String, parentCheckpoints: [Int: String]?, replacing obsolete: [Int: String],
        _ body: (BackupSession) async throws -> (result: Result, committed: Bool)
    ) async throws -> Result {
        let domain = try await LibvirtConnection.open(reference.uri).domain(uuid: reference.uuid)
        guard try await domain.isActive() else {
            if let remote {
                // Its image files are on that host: the hub reads disks there only through a running QEMU.
                throw SourceError.exportFailed("domain \(domain.name) is shut off on \(remote.host): a domain on another host is backed up while it runs")
            }
            return try await stoppedSession(of: domain, backupID: backupID, parentCheckpoints: parentCheckpoints, replacing: obsolete, body)
        }
        return try await LiveBackup(source: self, domain: domain, backupID: backupID)
            .run(parentCheckpoints: parentCheckpoints, replacing: obsolete, body)
    }

    /// A stopped domain: its image files, as any VM of image files, with its persistent XML.
    private func stoppedSession<Result: Sendable>(
        of domain: LibvirtDomain, backupID: String, parentCheckpoints: [Int: String]?, replacing obsolete: [Int: String],
        _ body: (BackupSession) async throws -> (result: Result, committed: Bool)
    ) async throws -> Result {
        let xml = try await domain.xml(inactive: true)
        let disks = try chosen(in: try DomainDescription(xml: xml)).map { disk, described in
            QemuImageSource.Disk(index: disk.index, path: described.path ?? "", label: disk.target)
        }
        var images = QemuImageSource(disks: disks, socketDirectory: runDirectory)
        images.processLog = processLog
        let configuration = VMConfiguration(format: .libvirtDomainXML, document: xml)
        return try await images.withSession(backupID: backupID, parentCheckpoints: parentCheckpoints, replacing: obsolete) { session in
            var session = session
            session.configuration = configuration
            return try await body(session)
        }
    }
}
