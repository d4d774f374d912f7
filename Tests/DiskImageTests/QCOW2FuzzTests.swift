import DiskImage
import Foundation
import TestSupport
import Testing

/// Mutated QCOW2 images (header fields, L1 and L2 entries, refcount tables,
/// header extensions and bitmap directories, backing names, compressed
/// clusters, truncation) opened and read by the reader the hub runs in its
/// own process (verify, disk restore, download, merge). The outcome must be a
/// `DiskImageError` or data whose extents agree with what reads return;
/// a trap here would be a hub crash, so it fails the whole run loudly: the
/// seed is printed first and the case that was open is kept
/// (`FUZZ_KEEP_DIR`, default the scratch folder, printed) to replay.
/// Bounded by `FUZZ_SECONDS` (20 by default; `make fuzz` runs longer).
@Suite("QCOW2 reader fuzzing", .removesScratch)
struct QCOW2FuzzTests {
    struct Seed {
        let name: String
        let bytes: [UInt8]
        /// Where the image's own structures are: mutations land there most.
        let hot: [Range<Int>]
        /// 64-bit table entries (L1, L2, refcount table), mutated as entries.
        let entries: [Range<Int>]
    }

    /// Header fields: offset and width.
    static let fields: [(Int, Int)] = [
        (4, 4), (8, 8), (16, 4), (20, 4), (24, 8), (32, 4), (36, 4), (40, 8), (48, 8), (56, 4),
        (60, 4), (64, 8), (72, 8), (80, 8), (88, 8), (96, 4), (100, 4), (104, 1),
    ]

    static func beUInt64(_ bytes: [UInt8], _ at: Int) -> UInt64 {
        bytes[at..<(at + 8)].reduce(0) { $0 << 8 | UInt64($1) }
    }

    static func beUInt32(_ bytes: [UInt8], _ at: Int) -> UInt64 {
        bytes[at..<(at + 4)].reduce(0) { $0 << 8 | UInt64($1) }
    }

    static func put(_ value: UInt64, width: Int, at offset: Int, in bytes: inout [UInt8]) {
        guard offset + width <= bytes.count else { return }
        for index in 0..<width { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(width - 1 - index))) }
    }

    /// Finds the header, L1, L2 and refcount structures of a good image.
    static func seed(_ name: String, path: String) throws -> Seed {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let clusterSize = 1 << Int(beUInt32(bytes, 20))
        let l1Size = Int(beUInt32(bytes, 36)), l1Offset = Int(beUInt64(bytes, 40))
        let refcountOffset = Int(beUInt64(bytes, 48)), refcountClusters = Int(beUInt32(bytes, 56))
        var hot = [0..<min(clusterSize, bytes.count)]
        var entries = [l1Offset..<(l1Offset + 8 * l1Size), refcountOffset..<(refcountOffset + refcountClusters * clusterSize)]
        hot += entries
        for index in 0..<l1Size {
            let l2 = Int(beUInt64(bytes, l1Offset + 8 * index) & 0x00ff_ffff_ffff_fe00)
            if l2 != 0 && l2 + clusterSize <= bytes.count {
                hot.append(l2..<(l2 + clusterSize))
                entries.append(l2..<(l2 + clusterSize))
            }
        }
        return Seed(name: name, bytes: bytes, hot: hot.filter { $0.upperBound <= bytes.count },
                    entries: entries.filter { !$0.isEmpty && $0.upperBound <= bytes.count })
    }

    /// Seeds QEMU wrote: v3 with data, zeros and discards over a backing file;
    /// zlib and zstd compressed; v2 with 4 KiB clusters; 512-byte clusters;
    /// a persistent dirty bitmap (a header extension and its directory).
    static func seeds(in vm: String) throws -> [Seed] {
        let base = vm + "/b1/disk-0.qcow2", scratch = vm + "/seeds"
        for folder in [vm + "/b1", scratch] { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        try mustRun(["qemu-img", "create", "-q", "-f", "qcow2", base, "8M"])
        try mustRun(["qemu-io", "-f", "qcow2", "-c", "write -P 0x61 0 8M", base])
        func make(_ name: String, _ options: [String], _ io: [String] = ["write -P 0x11 0 1M", "write -z 1M 512k", "write -P 0x22 3M 64k",
                                                                       "discard 5M 64k", "write -P 0x33 7M 12k"]) throws -> String {
            let path = scratch + "/" + name + ".qcow2"
            try mustRun(["qemu-img", "create", "-q", "-f", "qcow2"] + options + [path, "8M"])
            try mustRun(["qemu-io", "-f", "qcow2"] + io.flatMap { ["-c", $0] } + [path])
            return path
        }
        var seeds = [try seed("backed", path: try make("backed", ["-b", "../b1/disk-0.qcow2", "-F", "qcow2"]))]
        seeds.append(try seed("v2-4k", path: try make("v2", ["-o", "compat=0.10,cluster_size=4096"])))
        seeds.append(try seed("512", path: try make("c512", ["-o", "cluster_size=512"], ["write -P 0x11 0 64k", "write -z 64k 4k", "write -P 0x22 200k 3k"])))
        let bitmap = try make("bitmap", [])
        try mustRun(["qemu-img", "bitmap", "--add", bitmap, "sendense-1"])
        try mustRun(["qemu-io", "-f", "qcow2", "-c", "write -P 0x44 2M 64k", bitmap])
        seeds.append(try seed("bitmap", path: bitmap))
        for type in ["zlib", "zstd"] {
            let compressed = scratch + "/" + type + ".qcow2"
            try mustRun(["qemu-img", "convert", "-c", "-O", "qcow2", "-o", "compression_type=\(type)", base, compressed])
            seeds.append(try seed(type, path: compressed))
        }
        return seeds
    }

    /// Values that break arithmetic and bounds: ends of ranges, the file's
    /// own size and structures, powers of two, random.
    static func interesting(_ seed: Seed, _ original: UInt64, _ random: inout SplitMix64) -> UInt64 {
        let size = UInt64(seed.bytes.count)
        let choices: [UInt64] = [0, 1, .max, .max - 1, 1 << 63, 1 << 62, (1 << 63) | 512, UInt64(Int64.max), size, size - 1, size + 512,
                                 UInt64(UInt32.max), 1 << (random.next() % 64), original ^ (1 << (random.next() % 64)),
                                 original &+ (random.next() % 1024), original &- (random.next() % 1024), random.next(),
                                 UInt64(seed.hot.randomElement(using: &random)?.lowerBound ?? 0)]
        return choices[Int(random.next() % UInt64(choices.count))]
    }

    static func mutate(_ seed: Seed, random: inout SplitMix64) -> [UInt8] {
        var bytes = seed.bytes
        for _ in 0...(random.next() % 6) {
            switch random.next() % 10 {
            case 0, 1, 2:
                let (offset, width) = fields[Int(random.next() % UInt64(fields.count))]
                guard offset + width <= bytes.count else { continue }
                let original = width == 8 ? beUInt64(bytes, offset) : width == 4 ? beUInt32(bytes, offset) : UInt64(bytes[offset])
                put(interesting(seed, original, &random), width: width, at: offset, in: &bytes)
            case 3, 4, 5:
                guard let table = seed.entries.randomElement(using: &random), table.count >= 8 else { continue }
                let at = table.lowerBound + Int(random.next() % UInt64(table.count / 8)) * 8
                guard at + 8 <= bytes.count else { continue }
                let original = beUInt64(bytes, at)
                // Flags of L1/L2 entries (copied, compressed, zero) or a new offset.
                let value = random.next() % 2 == 0
                    ? original ^ ([1 << 63, 1 << 62, 1, 1 << 9] as [UInt64])[Int(random.next() % 4)]
                    : interesting(seed, original, &random)
                put(value, width: 8, at: at, in: &bytes)
            case 6, 7:
                guard let range = seed.hot.randomElement(using: &random), !range.isEmpty else { continue }
                let at = range.lowerBound + Int(random.next() % UInt64(range.count))
                guard at < bytes.count else { continue }
                bytes[at] ^= UInt8(truncatingIfNeeded: random.next() | 1)
            case 8:
                guard !bytes.isEmpty else { continue }
                let at = Int(random.next() % UInt64(bytes.count))
                let run = random.bytes(Int(random.next() % 64) + 1)
                for (index, byte) in run.enumerated() where at + index < bytes.count { bytes[at + index] = byte }
            default:
                guard !bytes.isEmpty else { continue }
                bytes.removeLast(Int(random.next() % UInt64(bytes.count)))
            }
        }
        return bytes
    }

    enum Outcome: String { case read, refused }

    /// Opens and reads the image as the hub would: its extents over the first
    /// 64 MiB, up to 16 MiB of their data, 64 KiB of every zero run (which
    /// must read as zeros), and a few reads at random places.
    static func walk(_ path: String, within root: String, random: inout SplitMix64) throws -> Outcome {
        do {
            let image = try DiskImages.open(path: path, backingsWithin: root)
            let window = min(image.virtualSize, 64 << 20)
            let extents = try image.extents(from: 0, length: window)
            #expect(extents.first.map { $0.offset == 0 } ?? (window == 0), "\(path): extents do not start at 0")
            #expect(zip(extents, extents.dropFirst()).allSatisfy { $0.end == $1.offset }, "\(path): extents leave gaps")
            #expect(extents.last.map { $0.end == window } ?? true, "\(path): extents end at \(extents.last?.end ?? 0), not \(window)")
            var budget = 16 << 20
            for extent in extents where budget > 0 {
                let count = Int(min(extent.length, UInt64(extent.kind == .zero ? 64 << 10 : min(budget, 1 << 20))))
                let bytes = try image.read(count: count, at: extent.offset)
                if extent.kind == .zero { #expect(bytes.allSatisfy { $0 == 0 }, "\(path): \(extent) reads as non-zero") }
                budget -= count
            }
            for _ in 0..<4 where image.virtualSize > 0 {
                let offset = random.next() % image.virtualSize
                _ = try image.read(count: Int(min(image.virtualSize - offset, random.next() % (256 << 10))), at: offset)
            }
            return .read
        } catch is DiskImageError {
            return .refused
        }
    }

    @Test("mutated images: a typed error or consistent data, never a trap, a hang or a file outside the chain's folder")
    func fuzz() throws {
        let folder = scratchFolder()
        let seconds = Double(ProcessInfo.processInfo.environment["FUZZ_SECONDS"] ?? "") ?? 20
        let runSeed = UInt64(ProcessInfo.processInfo.environment["FUZZ_SEED"] ?? "") ?? UInt64.random(in: 0...UInt64(UInt32.max))
        let keep = (ProcessInfo.processInfo.environment["FUZZ_KEEP_DIR"] ?? folder) + "/qcow2-fuzz-\(runSeed).qcow2"
        print("qcow2 fuzz: seed \(runSeed) (FUZZ_SEED=\(runSeed) repeats this run), \(seconds) s; the case being read is \(keep)")
        let vm = folder + "/repo/vms/web"
        let seeds = try Self.seeds(in: vm)
        // A file outside the chain's folder that a mutated backing name might reach.
        try Data(repeating: 0x5A, count: 1 << 20).write(to: URL(fileURLWithPath: folder + "/repo/outside.raw"))
        try FileManager.default.createDirectory(atPath: vm + "/b2", withIntermediateDirectories: true)
        let path = vm + "/b2/disk-0.qcow2"
        var random = SplitMix64(seed: runSeed)
        var counts: [String: [Outcome: Int]] = [:]
        var slowest = (0.0, "")
        let deadline = Date() + seconds
        var iteration = 0
        while Date() < deadline {
            let seed = seeds[iteration % seeds.count]
            var bytes = Self.mutate(seed, random: &random)
            if iteration % 50 == 7, let at = seed.bytes.firstRange(of: Array("../b1/disk-0.qcow2".utf8))?.lowerBound {
                // Now and then, a backing name that leaves the folder.
                Self.put(UInt64(at), width: 8, at: 8, in: &bytes)
                Self.put(UInt64(min(bytes.count - at, 20)), width: 4, at: 16, in: &bytes)
                bytes.replaceSubrange(at..<min(bytes.count, at + 20), with: Array("../../../outside.raw".utf8.prefix(bytes.count - at)))
            }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            try? FileManager.default.removeItem(atPath: keep)
            try FileManager.default.copyItem(atPath: path, toPath: keep)
            let started = Date()
            let outcome = try Self.walk(path, within: vm, random: &random)
            let took = Date().timeIntervalSince(started)
            if took > slowest.0 { slowest = (took, "\(seed.name) case \(iteration)") }
            counts[seed.name, default: [:]][outcome, default: 0] += 1
            iteration += 1
        }
        try? FileManager.default.removeItem(atPath: keep)
        for (name, outcomes) in counts.sorted(by: { $0.key < $1.key }) {
            print("qcow2 fuzz: \(name): " + outcomes.map { "\($0.key.rawValue) \($0.value)" }.sorted().joined(separator: ", "))
        }
        print("qcow2 fuzz: \(iteration) cases; slowest \(String(format: "%.3f", slowest.0)) s (\(slowest.1))")
        #expect(iteration >= seeds.count, "the fuzzer ran \(iteration) cases")
        #expect(slowest.0 < 10, "a case took \(slowest.0) s: \(slowest.1)")
        // Mutations that keep an image readable must happen, or the fuzzer only tests the header check.
        #expect(counts.values.reduce(0) { $0 + ($1[.read] ?? 0) } > 0, "no mutated image was readable")
    }
}
