import CLibvirt
import SendenseCore

/// One domain of a connection. Every call blocks on the daemon and so runs on
/// the blocking pool; the errors carry libvirt's own words.
public final class LibvirtDomain: @unchecked Sendable {
    public let connection: LibvirtConnection
    public let name: String
    public let uuid: String
    private let pointer: virDomainPtr

    init(owning pointer: virDomainPtr, connection: LibvirtConnection) {
        self.pointer = pointer
        self.connection = connection
        name = virDomainGetName(pointer).map { String(cString: $0) } ?? ""
        var uuid = [CChar](repeating: 0, count: Int(VIR_UUID_STRING_BUFLEN))
        _ = virDomainGetUUIDString(pointer, &uuid)
        self.uuid = String(decoding: uuid.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit { virDomainFree(pointer) }

    private func call<T: Sendable>(_ action: String, _ body: @escaping @Sendable (virDomainPtr) -> T?) async throws -> T {
        try await BlockingPool.shared.run { [self] in
            guard let answer = body(pointer) else { throw LibvirtError.last(doing: "\(action) of domain \(name)") }
            return answer
        }
    }

    /// Whether the domain runs (or is paused): a backup then goes through QEMU.
    public func isActive() async throws -> Bool {
        try await call("reading the state") { let active = virDomainIsActive($0); return active < 0 ? nil : active == 1 }
    }

    /// The domain's XML: the running definition, or the persistent one.
    public func xml(inactive: Bool = false) async throws -> String {
        let flags = inactive ? UInt32(VIR_DOMAIN_XML_INACTIVE.rawValue) : 0
        return try await call("reading the XML") { domain in
            guard let xml = virDomainGetXMLDesc(domain, flags) else { return nil }
            defer { free(xml) }
            return String(cString: xml)
        }
    }

    /// The size of a disk as the guest sees it.
    public func capacity(of target: String) async throws -> UInt64 {
        try await call("reading the size of \(target)") { domain -> UInt64? in
            var info = virDomainBlockInfo()
            return virDomainGetBlockInfo(domain, target, &info, 0) == 0 ? info.capacity : nil
        }
    }

    /// Starts a backup job (pull mode: QEMU serves the point in time over
    /// NBD) and, in the same instant, the checkpoint the next incremental reads from.
    public func beginBackup(backupXML: String, checkpointXML: String?) async throws {
        _ = try await call("starting a backup") { domain -> Bool? in
            virDomainBackupBegin(domain, backupXML, checkpointXML, 0) == 0 ? true : nil
        }
    }

    /// The running backup job's description (where its NBD server listens).
    public func backupXML() async throws -> String {
        try await call("reading the backup job") { domain in
            guard let xml = virDomainBackupGetXMLDesc(domain, 0) else { return nil }
            defer { free(xml) }
            return String(cString: xml)
        }
    }

    /// Ends the domain's job: for a pull-mode backup, its NBD server and scratch files.
    public func abortJob() async throws {
        _ = try await call("ending the backup job") { virDomainAbortJob($0) == 0 ? true : nil }
    }

    /// The names of the domain's checkpoints.
    public func checkpointNames() async throws -> [String] {
        try await call("listing the checkpoints") { domain -> [String]? in
            var list: UnsafeMutablePointer<virDomainCheckpointPtr?>?
            let count = virDomainListAllCheckpoints(domain, &list, 0)
            guard count >= 0, let list else { return nil }
            defer { free(list) }
            return (0..<Int(count)).compactMap { index -> String? in
                guard let checkpoint = list[index] else { return nil }
                defer { virDomainCheckpointFree(checkpoint) }
                return virDomainCheckpointGetName(checkpoint).map { String(cString: $0) }
            }
        }
    }

    /// Deletes a checkpoint: libvirt merges its bitmap into its parent's, so
    /// the checkpoint before it still covers every change since itself.
    public func deleteCheckpoint(_ name: String) async throws {
        _ = try await call("deleting checkpoint \(name)") { domain -> Bool? in
            guard let checkpoint = virDomainCheckpointLookupByName(domain, name, 0) else { return nil }
            defer { virDomainCheckpointFree(checkpoint) }
            return virDomainCheckpointDelete(checkpoint, 0) == 0 ? true : nil
        }
    }

    /// Freezes the guest's filesystems through the QEMU guest agent; answers how many.
    public func freezeFilesystems() async throws -> Int {
        try await call("freezing the guest's filesystems") { domain -> Int? in
            let frozen = virDomainFSFreeze(domain, nil, 0, 0)
            return frozen < 0 ? nil : Int(frozen)
        }
    }

    /// Thaws what a freeze froze; answers how many filesystems were frozen.
    @discardableResult
    public func thawFilesystems() async throws -> Int {
        try await call("thawing the guest's filesystems") { domain -> Int? in
            let thawed = virDomainFSThaw(domain, nil, 0, 0)
            return thawed < 0 ? nil : Int(thawed)
        }
    }

    /// Starts a defined domain.
    public func start() async throws {
        _ = try await call("starting") { virDomainCreate($0) == 0 ? true : nil }
    }

    /// Removes a stopped domain's definition, with the NVRAM file libvirt made for it.
    public func undefine() async throws {
        let flags = UInt32(VIR_DOMAIN_UNDEFINE_NVRAM.rawValue)
        _ = try await call("undefining") { virDomainUndefineFlags($0, flags) == 0 ? true : nil }
    }

    /// Whether the guest agent answers `guest-ping` within `seconds`.
    public func agentAnswers(within seconds: Int32) async -> Bool {
        (try? await call("pinging the guest agent") { domain -> Bool? in
            guard let answer = virDomainQemuAgentCommand(domain, #"{"execute":"guest-ping"}"#, seconds, 0) else { return nil }
            free(answer)
            return true
        }) == true
    }

    /// The guest's screen (its first head) as PNG, from `virDomainScreenshot`
    /// received through a stream. Unlike a monitor command it does not taint
    /// the domain, so a production VM's screen can be looked at. libvirt 9
    /// with QEMU 7.1 or later gives PNG; an older pair gives PPM, which is
    /// refused here (browsers do not show it). At most `maxBytes` are taken.
    public func screenPNG(maxBytes: Int = 32 << 20) async throws -> [UInt8] {
        let connection = self.connection
        let shot = try await call("capturing the screen") { domain -> (String, [UInt8])? in
            guard let stream = virStreamNew(connection.pointer, 0) else { return nil }
            defer { virStreamFree(stream) }
            guard let mime = virDomainScreenshot(domain, stream, 0, 0) else { return nil }
            defer { free(mime) }
            var bytes: [UInt8] = []
            var chunk = [CChar](repeating: 0, count: 256 << 10)
            while true {
                let received = virStreamRecv(stream, &chunk, chunk.count)
                if received < 0 || bytes.count + Int(received) > maxBytes {
                    virStreamAbort(stream)
                    return nil
                }
                if received == 0 { break }
                bytes += chunk[0..<Int(received)].map { UInt8(bitPattern: $0) }
            }
            guard virStreamFinish(stream) == 0 else { return nil }
            return (String(cString: mime), bytes)
        }
        guard shot.0 == "image/png" else {
            throw LibvirtError(code: -1, message: "libvirt gives the screen of domain \(name) as \(shot.0), not PNG (libvirt 9 with QEMU 7.1 or later give PNG)")
        }
        return shot.1
    }

    /// Stops the domain at once (a power cut); a transient domain is gone after it.
    public func destroy() async throws {
        _ = try await call("stopping") { virDomainDestroy($0) == 0 ? true : nil }
    }

    /// Starts copying a disk (`target`, as the guest names it) into the
    /// file `destinationXML` describes, while the guest runs: QEMU mirrors
    /// every new write, so once the copy is ready it stays ready.
    public func startCopy(of target: String, destinationXML: String) async throws {
        _ = try await call("starting a copy of \(target)") { domain -> Bool? in
            virDomainBlockCopy(domain, target, destinationXML, nil, 0, 0) == 0 ? true : nil
        }
    }

    /// A disk's block job: bytes done and to do; nil when it has none.
    public func blockJob(of target: String) async throws -> (done: UInt64, total: UInt64)? {
        try await call("reading the block job of \(target)") { domain -> (UInt64, UInt64)?? in
            var info = virDomainBlockJobInfo()
            switch virDomainGetBlockJobInfo(domain, target, &info, 0) {
            case 1: return .some((info.cur, info.end))
            case 0: return .some(nil)
            default: return nil
            }
        }
    }

    /// Ends a disk's block job: `pivot` makes a ready copy the disk (the
    /// guest goes on from it, no pause); without it the copy is abandoned.
    public func endBlockJob(of target: String, pivot: Bool) async throws {
        let flags = pivot ? UInt32(VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT.rawValue) : 0
        _ = try await call(pivot ? "switching \(target) to its copy" : "abandoning the copy of \(target)") { domain -> Bool? in
            virDomainBlockJobAbort(domain, target, flags) == 0 ? true : nil
        }
    }
}
