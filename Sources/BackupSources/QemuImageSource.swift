import Foundation
import NBD

/// A powered-off VM made of qcow2 or raw image files (KVM, Proxmox, libvirt
/// guests, plain images). Checkpoints are persistent dirty bitmaps named
/// `sendense-<backup_id>` inside each qcow2 image, managed with qemu-img;
/// each disk is exported read-only by a qemu-nbd the session owns.
public struct QemuImageSource: BackupSource {
    public struct Disk: Sendable, Equatable, Codable {
        public var index: Int
        public var path: String
        public var label: String
        public init(index: Int, path: String, label: String) {
            self.index = index
            self.path = path
            self.label = label
        }
    }

    public let disksOnFile: [Disk]
    /// Where sessions put their qemu-nbd sockets.
    public let socketDirectory: String
    /// Where the qemu-nbd servers sessions start are recorded.
    public var processLog: (any ChildProcessLog)?

    public init(disks: [Disk], socketDirectory: String) {
        self.disksOnFile = disks
        self.socketDirectory = socketDirectory
    }

    public static let checkpointPrefix = "sendense-"

    public static func checkpointName(for backupID: String) -> String { checkpointPrefix + backupID }

    /// Removes the `sendense-*` bitmaps of `path` whose backup `keep` does
    /// not vouch for: left by a backup that never committed (a killed hub),
    /// or made obsolete by a newer backup whose removal of them never ran
    /// (the hub stopped first, the image was in use). Each costs the guest
    /// on every write and is never used again. Answers the names removed;
    /// an image that cannot be read or changed is left as it is.
    public static func removeStaleCheckpoints(of path: String, keep: (_ backupID: String) async -> Bool) async -> [String] {
        guard QCOW2Probe.mayHaveBitmaps(path), let info = try? await QemuImageTool.info(path), info.format == "qcow2" else { return [] }
        var removed: [String] = []
        for name in info.bitmaps.keys.sorted() where name.hasPrefix(checkpointPrefix) {
            guard await !keep(String(name.dropFirst(checkpointPrefix.count))) else { continue }
            if (try? await QemuImageTool.removeBitmap(name, from: path)) != nil { removed.append(name) }
        }
        return removed
    }

    /// Each disk as qemu-img sees it; the disks are separate files, so
    /// qemu-img looks at all of them at once.
    public func disks() async throws -> [SourceDisk] {
        try await forEachDisk { try await Self.inspect($0).0 }
    }

    /// `body` for every disk at once (each is its own file), the answers in the disks' order.
    private func forEachDisk<Answer: Sendable>(_ body: @escaping @Sendable (Disk) async throws -> Answer) async throws -> [Answer] {
        try await withThrowingTaskGroup(of: (Int, Answer).self) { group in
            for (position, disk) in disksOnFile.enumerated() {
                group.addTask { (position, try await body(disk)) }
            }
            var answers: [(Int, Answer)] = []
            for try await answer in group { answers.append(answer) }
            return answers.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    /// A disk with what qemu-img says of it (format, size, bitmaps).
    private static func inspect(_ disk: Disk) async throws -> (SourceDisk, QemuImageTool.Info) {
        guard FileManager.default.isReadableFile(atPath: disk.path) else { throw SourceError.diskNotFound(disk.path) }
        let info = try await QemuImageTool.info(disk.path)
        guard ["qcow2", "raw"].contains(info.format) else {
            throw SourceError.unsupportedFormat(path: disk.path, format: info.format)
        }
        return (SourceDisk(index: disk.index, label: disk.label, capacityBytes: info.virtualSize, location: disk.path), info)
    }

    /// Runs `change` on each image at once (each is its own file, with its
    /// own lock); answers the images it was done to and the first failure.
    private static func onEach(_ paths: [String], _ change: @escaping @Sendable (String) async throws -> Void) async -> (done: [String], failure: (any Error)?) {
        await withTaskGroup(of: (String, (any Error)?).self) { group in
            for path in paths {
                group.addTask {
                    do {
                        try await change(path)
                        return (path, nil)
                    } catch {
                        return (path, error)
                    }
                }
            }
            var done: [String] = []
            var failure: (any Error)?
            for await (path, error) in group {
                if let error { failure = failure ?? error } else { done.append(path) }
            }
            return (done, failure)
        }
    }

    public func withSession<Result: Sendable>(
        backupID: String, parentCheckpoints: [Int: String]?, replacing obsolete: [Int: String],
        _ body: (BackupSession) async throws -> (result: Result, committed: Bool)
    ) async throws -> Result {
        let checkpoint = Self.checkpointName(for: backupID)
        let plans = try await plan(parentCheckpoints: parentCheckpoints)
        // The new checkpoint starts now: writes from here on go to the next incremental.
        let (added, failure) = await Self.onEach(plans.filter(\.tracks).map(\.disk.location)) {
            try await QemuImageTool.addBitmap(checkpoint, to: $0)
        }
        if let failure {
            await removeBitmap(checkpoint, from: added)
            throw failure
        }

        let outcome: (result: Result, committed: Bool)
        do {
            outcome = try await withExports(plans[...], checkpoint: checkpoint, owner: .init(jobID: backupID, log: processLog), body)
        } catch {
            await removeBitmap(checkpoint, from: added)
            throw error
        }
        if outcome.committed {
            // Only the newest checkpoint is needed; older bitmaps slow every write of the guest.
            let bitmaps = Dictionary(plans.compactMap { plan -> (String, String)? in
                guard plan.tracks, let old = obsolete[plan.disk.index], old != checkpoint else { return nil }
                return (plan.disk.location, old)
            }, uniquingKeysWith: { first, _ in first })
            _ = await Self.onEach(Array(bitmaps.keys)) { path in try await QemuImageTool.removeBitmap(bitmaps[path]!, from: path) }
        } else {
            await removeBitmap(checkpoint, from: added)
        }
        return outcome.result
    }

    /// How each disk is exported. A disk with a parent checkpoint whose
    /// header still says qcow2 is planned as an incremental without asking
    /// qemu-img first (7 ms per backup): qemu-nbd refuses to export a bitmap
    /// that is missing or inconsistent, and only then is qemu-img asked why
    /// (`withExports`). Every other disk is looked at with qemu-img info.
    private func plan(parentCheckpoints: [Int: String]?) async throws -> [PlannedDisk] {
        try await forEachDisk { disk in
            if let parent = parentCheckpoints?[disk.index], let size = QCOW2Probe.virtualSize(ofImageAt: disk.path) {
                let source = SourceDisk(index: disk.index, label: disk.label, capacityBytes: size, location: disk.path)
                return PlannedDisk(disk: source, format: "qcow2", plan: .incremental(context: "qemu:dirty-bitmap:\(parent)"),
                                   bitmap: parent, tracks: true)
            }
            let (source, info) = try await Self.inspect(disk)
            return Self.plan(source, info: info, parent: parentCheckpoints?[disk.index])
        }
    }

    /// An incremental from `parent` where the image's bitmap allows it, else a full copy saying why.
    private static func plan(_ disk: SourceDisk, info: QemuImageTool.Info, parent: String?) -> PlannedDisk {
        var plan = CopyPlan.full(reason: nil)
        if info.format != "qcow2" {
            plan = .full(reason: "raw images keep no change tracking: every backup of \(disk.label) is full")
        } else if let parent {
            switch info.bitmaps[parent] {
            case true?: plan = .incremental(context: "qemu:dirty-bitmap:\(parent)")
            case false?: plan = .changedSinceParent(reason: "bitmap \(parent) of \(disk.label) is inconsistent (the VM was not shut down cleanly)")
            case nil: plan = .changedSinceParent(reason: "bitmap \(parent) of \(disk.label) is missing")
            }
        }
        let bitmap: String? = if case .incremental = plan { parent } else { nil }
        return PlannedDisk(disk: disk, format: info.format, plan: plan, bitmap: bitmap, tracks: info.format == "qcow2")
    }

    /// Starts one qemu-nbd per disk, nested, so every one is stopped on the
    /// way out. A disk planned incremental whose qemu-nbd refuses the parent
    /// bitmap is planned again from what qemu-img says of it: a full copy
    /// when the bitmap is missing or inconsistent, the failure otherwise.
    private func withExports<Result: Sendable>(
        _ plans: ArraySlice<PlannedDisk>, checkpoint: String, owner: NBDServerProcess.Owner,
        _ body: (BackupSession) async throws -> (result: Result, committed: Bool),
        ready: [DiskExport] = []
    ) async throws -> (result: Result, committed: Bool) {
        // qemu-nbd cannot open an image a running QEMU holds: these disks are at rest.
        guard var planned = plans.first else { return try await body(BackupSession(exports: ready, consistency: .poweredOff)) }
        var exported = false
        func export(_ planned: PlannedDisk) async throws -> (result: Result, committed: Bool) {
            try await NBDServerProcess.withQemuNBD(
                image: planned.disk.location, format: planned.format, bitmap: planned.bitmap, socketDirectory: socketDirectory, owner: owner
            ) { endpoint in
                exported = true
                let export = DiskExport(disk: planned.disk, endpoint: endpoint, plan: planned.plan,
                                        newCheckpoint: planned.tracks ? checkpoint : "")
                return try await withExports(plans.dropFirst(), checkpoint: checkpoint, owner: owner, body, ready: ready + [export])
            }
        }
        do {
            return try await export(planned)
        } catch SourceError.exportFailed(let message) where !exported && planned.bitmap != nil {
            let (disk, info) = try await Self.inspect(QemuImageSource.Disk(index: planned.disk.index, path: planned.disk.location, label: planned.disk.label))
            planned = Self.plan(disk, info: info, parent: planned.bitmap)
            guard planned.bitmap == nil else { throw SourceError.exportFailed(message) }
            return try await export(planned)
        }
    }

    /// A disk as the session will export it.
    private struct PlannedDisk: Sendable {
        var disk: SourceDisk
        var format: String
        var plan: CopyPlan
        /// The parent bitmap exported for an incremental.
        var bitmap: String?
        /// Whether the image keeps bitmaps (qcow2) and so gets the new checkpoint.
        var tracks: Bool
    }

    private func removeBitmap(_ name: String, from paths: [String]) async {
        _ = await Self.onEach(paths) { try await QemuImageTool.removeBitmap(name, from: $0) }
    }
}
