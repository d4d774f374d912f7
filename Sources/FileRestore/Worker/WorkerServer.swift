import DiskImage
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `sendense flr-worker`: the process that reads one restore point's disk
/// for a file-restore session. The hub starts it (`FileRestoreWorker`),
/// talks to it over standard input/output (one unix socket), and kills it
/// when the session ends, a request outlives its time, or it misbehaves.
/// It opens the image chain, locks itself in (`WorkerSandbox`), and only
/// then parses the guest's partitions and filesystems.
public enum FileRestoreWorkerProcess {
    public static let command = "flr-worker"

    /// Runs the worker with its command-line arguments (after the command
    /// name): `--image PATH [--companion PATH]… [--backings-within FOLDER]
    /// [--memory-limit BYTES] [--parent PID]`. Never returns.
    public static func run(arguments: [String]) -> Never {
        WorkerSandbox.closeInheritedDescriptors()
        let channel = WorkerChannel(fd: STDOUT_FILENO)
        var options: [String: [String]] = [:]
        var rest = arguments[...]
        while let key = rest.popFirst(), key.hasPrefix("--"), let value = rest.popFirst() { options[String(key.dropFirst(2)), default: []].append(value) }
        guard let imagePath = options["image"]?.last else { fail(channel, .workerFailed(reason: "flr-worker: --image is required")) }
        let parent = options["parent"]?.last.flatMap { pid_t($0) }
        // Opened before the sandbox is entered: the folder keeps a tampered header from naming any other file.
        let within = options["backings-within"]?.last
        let image: any DiskImageReader
        do {
            image = try DiskImages.open(path: imagePath, backingsWithin: within)
        } catch {
            fail(channel, .imageUnreadable(reason: "\(error)"))
        }
        // The point's other disks: a disk that cannot be opened only hides the volume groups on it.
        let companions = (options["companion"] ?? []).compactMap { try? DiskImages.open(path: $0, backingsWithin: within) }
        UTF8Locale.prepare()
        // The first natural-order comparison sets up ICU's collator (~100 ms):
        // done while the disk opens, not in the first listing.
        _ = "file-1".localizedStandardCompare("File-10")
        let sandbox = WorkerSandbox.enter(memoryLimit: options["memory-limit"]?.last.flatMap { UInt64($0) } ?? 0)
        let browser: RestoreBrowser
        do {
            browser = try RestoreBrowser(image: image, companions: companions)
        } catch let error as FileRestoreError {
            fail(channel, error)
        } catch {
            fail(channel, .noFilesystem(reason: "\(error)"))
        }
        if let parent { watchParent(parent) }
        let opened = WorkerOpened(volumes: browser.volumes, partitionsAsFolders: browser.partitionsAsFolders,
                                  filesystemType: browser.filesystemType, sandbox: sandbox)
        do {
            try channel.send(.value, json: opened)
            try WorkerServer(browser: browser, channel: channel).serve()
        } catch {
            // The hub went away or broke the protocol: nothing left to do.
        }
        exit(0)
    }

    private static func fail(_ channel: WorkerChannel, _ error: FileRestoreError) -> Never {
        try? channel.send(.failure, json: error)
        exit(1)
    }

    /// Ends the worker when the hub is gone (killed), even in the middle of
    /// a long parse that would not notice its socket closing.
    private static func watchParent(_ parent: pid_t) {
        let thread = Thread {
            while getppid() == parent { sleep(1) }
            _exit(3)
        }
        thread.start()
    }
}

/// Answers the hub's requests one at a time over a restore browser.
final class WorkerServer {
    private let browser: RestoreBrowser
    private let channel: WorkerChannel
    /// The folder listed last, sorted: the next page of a huge folder is not listed again.
    private var listing: (path: String, entries: [RestoreEntry])?
    /// Files read lately, by volume and inode: a download reads one piece per request.
    private var files: [(key: [UInt64], file: RestoreFile)] = []
    private var archives: [Int: DirectoryArchive] = [:]
    private var nextArchive = 1
    private var buffer = [UInt8](repeating: 0, count: maxRead)
    /// The piece after the last one read, read while the hub takes that one
    /// (downloads read in order): file key, offset, bytes.
    private var ahead: (key: [UInt64], offset: UInt64, bytes: [UInt8])?

    static let maxRead = 4 << 20
    static let maxOpenFiles = 8
    static let maxArchives = 16

    init(browser: RestoreBrowser, channel: WorkerChannel) {
        self.browser = browser
        self.channel = channel
    }

    func serve() throws {
        while true {
            let (kind, length) = try channel.receiveHeader(until: nil)
            guard kind == .request else { throw WorkerChannel.Failure.malformed("expected a request") }
            let request = try JSONDecoder().decode(WorkerRequest.self, from: Data(try channel.receivePayload(length, until: nil)))
            do {
                try answer(request)
            } catch let error as FileRestoreError {
                try channel.send(.failure, json: error)
            } catch let error as WorkerChannel.Failure {
                throw error
            } catch {
                try channel.send(.failure, json: FileRestoreError.unreadable(path: request.path ?? "the disk", reason: "\(error)"))
            }
        }
    }

    private func answer(_ request: WorkerRequest) throws {
        switch request {
        case .list(let path, let offset, let limit):
            let normalised = RestorePath.join(try RestorePath.components(path))
            let entries: [RestoreEntry]
            if let listing, listing.path == normalised {
                entries = listing.entries
            } else {
                entries = try browser.list(normalised)
                listing = (normalised, entries)
            }
            let page = Array(entries.dropFirst(max(0, offset)).prefix(max(0, limit)))
            try channel.send(.data, FolderPage(path: normalised, entries: page, total: entries.count).encoded())
        case .entry(let path):
            try channel.send(.value, json: try browser.entry(at: path))
        case .read(let entry, let offset, let count):
            let key = [UInt64(entry.volume), entry.inode]
            let wanted = min(max(0, count), Self.maxRead)
            if let ahead, ahead.key == key, ahead.offset == offset, ahead.bytes.count == min(wanted, Int(clamping: entry.size - min(offset, entry.size))) {
                self.ahead = nil
                try channel.send(.data, ahead.bytes)
            } else {
                self.ahead = nil
                let file = try open(entry)
                let n = try buffer.withUnsafeMutableBytes { try file.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<wanted]), at: offset) }
                try buffer.withUnsafeBytes { try channel.send(.data, UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            }
            // The next piece, while the hub receives this one (the socket holds it).
            let next = offset + UInt64(wanted)
            if wanted > 0, next < entry.size, let file = try? open(entry) {
                var bytes = [UInt8](repeating: 0, count: Int(min(UInt64(wanted), entry.size - next)))
                if let n = try? bytes.withUnsafeMutableBytes({ try file.read(into: $0, at: next) }), n == bytes.count {
                    ahead = (key, next, bytes)
                }
            }
        case .contents(let entries):
            try channel.send(.value, json: try DirectoryArchive.contents(of: entries, in: browser))
        case .openArchive(let items, let format):
            guard archives.count < Self.maxArchives else {
                throw FileRestoreError.unreadable(path: "/", reason: "more than \(Self.maxArchives) archives at once in one session")
            }
            let archive = try DirectoryArchive(browser: browser, items: items.map { ($0.entry, $0.name) }, format: format)
            archives[nextArchive] = archive
            try channel.send(.value, json: nextArchive)
            nextArchive += 1
        case .archiveNext(let id):
            guard let archive = archives[id] else { throw FileRestoreError.workerFailed(reason: "no archive \(id) in this worker") }
            if let piece = try archive.next() {
                try channel.send(.data, piece)
            } else {
                archives[id] = nil
                try channel.send(.end)
            }
        case .closeArchive(let id):
            archives[id] = nil
            try channel.send(.end)
        }
    }

    private func open(_ entry: RestoreEntry) throws -> RestoreFile {
        let key = [UInt64(entry.volume), entry.inode]
        if let index = files.firstIndex(where: { $0.key == key }) {
            let found = files.remove(at: index)
            files.append(found)
            return found.file
        }
        let file = try browser.openFile(entry)
        files.append((key, file))
        if files.count > Self.maxOpenFiles { files.removeFirst() }
        return file
    }
}

extension WorkerRequest {
    /// The path a failure is reported for.
    var path: String? {
        switch self {
        case .list(let path, _, _), .entry(let path): path
        case .read(let entry, _, _): entry.path
        default: nil
        }
    }
}
