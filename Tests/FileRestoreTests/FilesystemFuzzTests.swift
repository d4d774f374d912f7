@testable import FileRestore
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Mutated filesystem images (ext4, FAT32, NTFS, XFS, LVM2, btrfs) opened and walked
/// by file-restore workers for a bounded time (`FUZZ_SECONDS`, 60 by default;
/// `make fuzz` runs longer). Whatever a parser does with them, the outcome is
/// a typed `FileRestoreError` or data: a crash or hang costs its worker, which
/// is replaced, never this process (the hub's place). Images that crashed a
/// worker are kept (printed) and belong in Tests/Fixtures/fuzz/, which every
/// run walks first as regressions.
@Suite("Filesystem fuzzing through workers", .removesScratch)
struct FilesystemFuzzTests {
    struct Seed {
        let name: String
        let path: String
        /// Where mutations land most: the filesystem's own structures
        /// (when empty: anywhere the image holds data).
        let hot: [Range<UInt64>]
        let size: UInt64
        /// The image's allocated ranges, where the rest of the mutations land.
        var data: [Range<UInt64>] = []
    }

    static func seeds(in folder: String) throws -> [Seed] {
        let tree = try TestDisks.sampleTree(at: folder + "/tree", seed: 31, largeBytes: 200_000)
        for index in 0..<60 { try Data("note \(index)\n".utf8).write(to: URL(fileURLWithPath: tree + "/Documents/n\(index).txt")) }
        let plain = try TestDisks.sampleTree(at: folder + "/plain", seed: 32, largeBytes: 200_000, symlink: false)
        try TestDisks.makeFileSystem(.ext4(label: "fz"), sizeMiB: 4, content: tree, at: folder + "/ext4.raw")
        try TestDisks.makeFileSystem(.fat32(label: "FZ"), sizeMiB: 34, content: plain, at: folder + "/fat.raw")
        try TestDisks.makeFileSystem(.ntfs(label: "fz"), sizeMiB: 4, content: plain, at: folder + "/ntfs.raw")
        // XFS and LVM2: the committed LVM fixture disk (a PV holding ext4 and XFS logical volumes); btrfs.
        try mustRun(["qemu-img", "convert", "-O", "raw", packageRoot + "/Tests/Fixtures/lvm-disk0.qcow2", folder + "/lvm.raw"])
        try mustRun(["qemu-img", "convert", "-O", "raw", packageRoot + "/Tests/Fixtures/btrfs.qcow2", folder + "/btrfs.raw"])
        let kib: UInt64 = 1024
        let only = ProcessInfo.processInfo.environment["FUZZ_ONLY"].map { Set($0.split(separator: ",").map(String.init)) }
        return [
            Seed(name: "ext4", path: folder + "/ext4.raw", hot: [0..<(256 * kib)], size: 4 << 20),
            Seed(name: "fat32", path: folder + "/fat.raw", hot: [0..<(1024 * kib)], size: 34 << 20),
            Seed(name: "ntfs", path: folder + "/ntfs.raw", hot: [0..<(64 * kib), (1024 * kib)..<(1300 * kib)], size: 4 << 20),
            // GPT, the PV label and metadata, XFS's superblock, AG headers and root inodes.
            Seed(name: "lvm+xfs", path: folder + "/lvm.raw",
                 hot: [0..<(64 * kib), (10240 * kib)..<(11300 * kib), (11264 * kib)..<(11264 * kib + 512 * kib)], size: 352 << 20),
            // The superblock, then anywhere metadata or data is.
            Seed(name: "btrfs", path: folder + "/btrfs.raw", hot: [(64 * kib)..<(68 * kib)], size: 128 << 20),
        ].filter { only?.contains($0.name) ?? true }.map { seed in
            var seed = seed
            seed.data = dataRanges(of: seed.path)
            return seed
        }
    }

    /// The allocated ranges of a sparse file.
    static func dataRanges(of path: String) -> [Range<UInt64>] {
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        var ranges: [Range<UInt64>] = []
        var position = lseek(fd, 0, seekData)
        while position >= 0 {
            let end = lseek(fd, position, seekHole)
            guard end > position else { break }
            ranges.append(UInt64(position)..<UInt64(end))
            position = lseek(fd, end, seekData)
        }
        return ranges
    }

    /// lseek's whence values for data and holes (Linux), which Glibc's module does not export.
    static let seekData: Int32 = 3, seekHole: Int32 = 4

    /// Copies only the seed's data (holes stay holes), then writes 1-16 mutations.
    static func mutate(_ seed: Seed, into path: String, random: inout SplitMix64) throws {
        let source = open(seed.path, O_RDONLY), target = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o644)
        defer { close(source); close(target) }
        ftruncate(target, off_t(seed.size))
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var position = lseek(source, 0, seekData)
        while position >= 0 && UInt64(position) < seed.size {
            let end = lseek(source, position, seekHole)
            var at = position
            while at < end {
                let n = pread(source, &buffer, min(buffer.count, Int(end - at)), at)
                guard n > 0 else { break }
                _ = pwrite(target, buffer, n, at)
                at += off_t(n)
            }
            position = lseek(source, end, seekData)
        }
        let boundaries: [UInt64] = [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0xffff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, UInt64.max, 1 << 40]
        for _ in 0...random.below(16) {
            let zones = random.below(10) < 6 || seed.data.isEmpty ? seed.hot : seed.data
            let zone = zones[Int(random.below(UInt64(zones.count)))]
            let offset = zone.lowerBound + random.below(UInt64(zone.count))
            var bytes: [UInt8]
            switch random.below(5) {
            case 0: bytes = [UInt8(truncatingIfNeeded: random.next())]
            case 1:
                var byte = [UInt8](repeating: 0, count: 1)
                _ = pread(target, &byte, 1, off_t(offset))
                bytes = [byte[0] ^ UInt8(1 << random.below(8))]
            case 2: bytes = withUnsafeBytes(of: UInt32(truncatingIfNeeded: boundaries[Int(random.below(UInt64(boundaries.count)))]).littleEndian, Array.init)
            case 3: bytes = withUnsafeBytes(of: boundaries[Int(random.below(UInt64(boundaries.count)))].littleEndian, Array.init)
            default: bytes = (0..<(1 + random.below(64))).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            }
            _ = pwrite(target, bytes, bytes.count, off_t(offset))
        }
    }

    enum Outcome { case walked, refused, crashed, hung }

    /// Opens the image in a worker and walks it: listings, entries, the start of each file.
    static func walk(_ path: String) -> (Outcome, String) {
        let settings = FileRestoreWorker.Settings(executable: sendenseBinary, requestTimeout: 5, slowRequestTimeout: 10,
                                                   memoryLimitBytes: 1 << 30)
        let worker: FileRestoreWorker
        do {
            worker = try FileRestoreWorker(imagePath: path, settings: settings)
        } catch {
            return classify(error)
        }
        defer { worker.stop() }
        var folders = ["/"], visited = 0, outcome: (Outcome, String) = (.walked, "")
        var buffer = [UInt8](repeating: 0, count: 65536)
        while let folder = folders.popLast(), visited < 300 {
            do {
                let page = try worker.list(folder, offset: 0, limit: 100)
                for entry in page.entries {
                    visited += 1
                    switch entry.kind {
                    case .directory: if folders.count < 50 { folders.append(entry.path) }
                    case .file: _ = try buffer.withUnsafeMutableBytes { try worker.read(entry, at: 0, into: $0) }
                    default: break
                    }
                }
            } catch {
                outcome = classify(error)
                if outcome.0 == .crashed || outcome.0 == .hung { return outcome }
            }
        }
        return outcome
    }

    static func classify(_ error: any Error) -> (Outcome, String) {
        guard let error = error as? FileRestoreError else { return (.crashed, "an untyped error: \(error)") }
        switch error {
        case .workerFailed(let reason): return (.crashed, reason)
        case .workerTimedOut: return (.hung, "\(error)")
        default: return (.refused, "\(error)")
        }
    }

    @Test("mutated images: typed errors or data; a crash or hang only replaces its worker")
    func fuzz() throws {
        let folder = scratchFolder()
        let seconds = Double(ProcessInfo.processInfo.environment["FUZZ_SECONDS"] ?? "") ?? 60
        let runSeed = UInt64(ProcessInfo.processInfo.environment["FUZZ_SEED"] ?? "") ?? UInt64.random(in: 0...UInt64(UInt32.max))
        print("fuzz: seed \(runSeed) (FUZZ_SEED=\(runSeed) repeats this run), \(seconds) s")

        // Regressions first: every image that ever crashed a worker.
        let regressions = packageRoot + "/Tests/Fixtures/fuzz"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: regressions))?.sorted() ?? [] where name.hasSuffix(".qcow2") {
            let (outcome, detail) = Self.walk(regressions + "/" + name)
            print("fuzz: regression \(name): \(outcome) \(detail.prefix(160))")
            // Each crashed a worker once (ours to fix, and fixed): now data or a typed refusal.
            #expect(outcome == .walked || outcome == .refused, "\(name): \(outcome) \(detail)")
        }

        let seeds = try Self.seeds(in: folder)
        var random = SplitMix64(seed: runSeed)  // the run is reproducible from its seed
        var counts: [String: [Outcome: Int]] = [:]
        var kept: [String] = []
        let deadline = Date() + seconds
        var iteration = 0
        while Date() < deadline {
            let seed = seeds[iteration % seeds.count]
            let path = folder + "/case-\(iteration).raw"
            try Self.mutate(seed, into: path, random: &random)
            let (outcome, detail) = Self.walk(path)
            counts[seed.name, default: [:]][outcome, default: 0] += 1
            if outcome == .crashed || outcome == .hung {
                let keepFolder = ProcessInfo.processInfo.environment["FUZZ_KEEP_DIR"] ?? folder
                let keep = keepFolder + "/\(outcome)-\(seed.name)-\(runSeed)-\(iteration).qcow2"
                try mustRun(["qemu-img", "convert", "-c", "-O", "qcow2", path, keep])
                kept.append(keep)
                print("fuzz: \(seed.name) case \(iteration) \(outcome): \(detail.prefix(200)); kept \(keep)")
                #expect(!detail.hasPrefix("an untyped error"), "\(detail)")
            }
            try? FileManager.default.removeItem(atPath: path)
            iteration += 1
        }
        for (name, outcomes) in counts.sorted(by: { $0.key < $1.key }) {
            print("fuzz: \(name): " + outcomes.map { "\($0.key) \($0.value)" }.sorted().joined(separator: ", "))
        }
        #expect(iteration >= seeds.count, "the fuzzer ran \(iteration) cases")
        // This process — the hub's place — is still here, and a worker on a good image still answers.
        let good = try FileRestoreWorker(imagePath: seeds[0].path, settings: .init(executable: sendenseBinary))
        #expect(try good.list("/", offset: 0, limit: 10).total > 0)
        good.stop()
        if !kept.isEmpty { print("fuzz: \(kept.count) images crashed or hung a worker; copy them to Tests/Fixtures/fuzz/ as regressions") }
    }
}

private extension SplitMix64 {
    mutating func below(_ bound: UInt64) -> UInt64 { bound == 0 ? 0 : next() % bound }
}
