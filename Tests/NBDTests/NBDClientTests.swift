import Foundation
import NBD
import NIOCore
import TestSupport
import Testing

@Suite("NBD client against qemu-nbd and nbdkit", .removesScratch)
struct NBDClientTests {
    static func patternedImage(_ folder: String) throws -> String {
        let image = folder + "/disk.qcow2"
        try mustRun(["qemu-img", "create", "-q", "-f", "qcow2", image, "24M"])
        try mustRun(["qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 3M", "-c", "write -P 0x22 5M 1536k",
                     "-c", "write -P 0x33 7777k 12k", "-c", "write -z 1M 512k", "-c", "write -P 0x44 23M 1M", image])
        return image
    }

    @Test("reads the whole disk with many requests in flight, equal to qemu-img's reading")
    func pipelinedReads() async throws {
        let folder = scratchFolder()
        let image = try Self.patternedImage(folder)
        try mustRun(["qemu-img", "convert", "-O", "raw", image, folder + "/expected.raw"])
        let expected = try Data(contentsOf: URL(fileURLWithPath: folder + "/expected.raw"))
        let server = try ServerProcess.qemuNBD(image: image, folder: folder)
        let disk = try await NBDClient.withConnection(to: server.endpoint, metaContexts: ["base:allocation"]) { nbd in
            #expect(nbd.info.size == 24 << 20)
            #expect(nbd.info.isReadOnly)
            #expect(nbd.info.structuredReplies)
            let chunk = 1 << 20
            let chunks = try await withThrowingTaskGroup(of: (Int, ByteBuffer).self) { group in
                for index in 0..<(Int(nbd.info.size) / chunk) {
                    group.addTask { (index, try await nbd.read(offset: UInt64(index * chunk), length: chunk)) }
                }
                var result: [Int: ByteBuffer] = [:]
                for try await (index, data) in group { result[index] = data }
                return result
            }
            var whole = Data()
            for index in chunks.keys.sorted() { whole.append(contentsOf: chunks[index]?.readableBytesView ?? ByteBuffer().readableBytesView) }
            // An unaligned read that crosses data, zeroes and a hole.
            let odd = try await nbd.read(offset: 3 * 1024 * 1024 - 1000, length: 5000)
            #expect(Array(odd.readableBytesView) == Array(expected[(3 * 1024 * 1024 - 1000)..<(3 * 1024 * 1024 + 4000)]))
            return whole
        }
        #expect(disk == expected)
    }

    @Test("base:allocation tells data from holes and zeroes")
    func allocation() async throws {
        let folder = scratchFolder()
        let image = try Self.patternedImage(folder)
        let server = try ServerProcess.qemuNBD(image: image, folder: folder)
        let extents = try await NBDClient.withConnection(to: server.endpoint, metaContexts: ["base:allocation"]) { nbd in
            var all: [NBDExtent] = []
            var offset: UInt64 = 0
            while offset < nbd.info.size {
                let part = try await nbd.blockStatus(offset: offset, length: Int(nbd.info.size - offset), context: "base:allocation")
                all += part
                offset = part.last.map { $0.offset + $0.length } ?? nbd.info.size
            }
            return all
        }
        #expect(extents.first?.offset == 0)
        let covered = extents.reduce(UInt64(0)) { $0 + $1.length }
        #expect(covered >= 24 << 20)
        func flags(at offset: UInt64) -> UInt32? { extents.first { $0.offset <= offset && offset < $0.offset + $0.length }?.flags }
        #expect(flags(at: 0) == 0)  // data
        #expect(flags(at: 1 << 20).map { $0 & NBDExtent.zero != 0 } == true)  // written zeroes
        #expect(flags(at: 4 << 20).map { $0 & NBDExtent.hole != 0 } == true)  // never written
        #expect(flags(at: 23 << 20) == 0)
    }

    @Test("qemu:dirty-bitmap shows exactly the clusters written since the bitmap was added")
    func dirtyBitmap() async throws {
        let folder = scratchFolder()
        let image = try Self.patternedImage(folder)
        try mustRun(["qemu-img", "bitmap", "--add", "--enable", image, "b0"])
        try mustRun(["qemu-io", "-f", "qcow2", "-c", "write -P 0x55 2M 64k", "-c", "write -P 0x66 10M 100k", image])
        let server = try ServerProcess.qemuNBD(image: image, folder: folder, bitmap: "b0")
        let dirty = try await NBDClient.withConnection(to: server.endpoint, metaContexts: ["qemu:dirty-bitmap:b0"]) { nbd in
            var all: [NBDExtent] = []
            var offset: UInt64 = 0
            while offset < nbd.info.size {
                let part = try await nbd.blockStatus(offset: offset, length: Int(nbd.info.size - offset), context: "qemu:dirty-bitmap:b0")
                all += part
                offset = part.last.map { $0.offset + $0.length } ?? nbd.info.size
            }
            return all.filter { $0.flags & NBDExtent.dirty != 0 }
        }
        // 64 KiB granularity: 2M+64k, and 10M..10M+100k rounded out to 128k.
        #expect(dirty == [NBDExtent(offset: 2 << 20, length: 64 << 10, flags: 1),
                          NBDExtent(offset: 10 << 20, length: 128 << 10, flags: 1)])
    }

    @Test("write, write zeroes, trim and flush against nbdkit's memory plugin")
    func writes() async throws {
        let folder = scratchFolder()
        let server = try ServerProcess.nbdkitMemory(folder: folder, size: "16M")
        try await NBDClient.withConnection(to: server.endpoint) { nbd in
            #expect(!nbd.info.isReadOnly)
            let data = ByteBuffer(bytes: (0..<(256 << 10)).map { UInt8(truncatingIfNeeded: $0 &* 7) })
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<16 {
                    group.addTask { try await nbd.write(offset: UInt64(index) << 20, data: data, fua: index == 0) }
                }
                try await group.waitForAll()
            }
            try await nbd.flush()
            for index in 0..<16 {
                let back = try await nbd.read(offset: UInt64(index) << 20, length: 256 << 10)
                #expect(back == data)
            }
            try await nbd.writeZeroes(offset: 0, length: 64 << 10)
            try await nbd.trim(offset: 1 << 20, length: 256 << 10)
            #expect(try await nbd.read(offset: 0, length: 64 << 10).readableBytesView.allSatisfy { $0 == 0 })
            #expect(try await nbd.read(offset: 1 << 20, length: 256 << 10).readableBytesView.allSatisfy { $0 == 0 })
            #expect(try await nbd.read(offset: 2 << 20, length: 256 << 10) == data)
        }
    }

    @Test("TCP on loopback")
    func tcp() async throws {
        let port = Int.random(in: 20000..<40000)
        let server = try ServerProcess(["nbdkit", "-f", "-i", "127.0.0.1", "-p", String(port), "pattern", "8M"],
                                       endpoint: try NBDEndpoint(uri: "nbd://127.0.0.1:\(port)/"), port: port)
        let bytes = try await NBDClient.withConnection(to: server.endpoint) { nbd in
            try await nbd.read(offset: 8, length: 8)
        }
        // nbdkit's pattern plugin stores each 8-byte offset big-endian.
        #expect(Array(bytes.readableBytesView) == [0, 0, 0, 0, 0, 0, 0, 8])
    }

    @Test("refusals and misuse are clean errors")
    func refusals() async throws {
        let folder = scratchFolder()
        let image = try Self.patternedImage(folder)
        let server = try ServerProcess.qemuNBD(image: image, folder: folder)
        var wrongExport = server.endpoint
        wrongExport.exportName = "nope"
        await #expect(throws: NBDError.self) { try await NBDClient.withConnection(to: wrongExport) { _ in } }
        await #expect(throws: NBDError.self) {
            try await NBDClient.withConnection(to: server.endpoint, metaContexts: ["qemu:dirty-bitmap:missing"]) { _ in }
        }
        try await NBDClient.withConnection(to: server.endpoint) { nbd in
            await #expect(throws: NBDError.self) { _ = try await nbd.read(offset: nbd.info.size - 10, length: 20) }
            await #expect(throws: NBDError.self) { try await nbd.write(offset: 0, data: ByteBuffer(bytes: [1])) }
            await #expect(throws: NBDError.self) { _ = try await nbd.blockStatus(offset: 0, length: 10, context: "base:allocation") }
            // The connection still works after refused requests.
            let first = try await nbd.read(offset: 0, length: 4)
            #expect(Array(first.readableBytesView) == [0x11, 0x11, 0x11, 0x11])
        }
        await #expect(throws: NBDError.self) {
            try await NBDClient.withConnection(to: NBDEndpoint(transport: .unix(path: folder + "/no.sock"))) { _ in }
        }
    }

    @Test("endpoint URIs", arguments: [
        ("nbd://10.0.0.5:10810/disk0", "nbd://10.0.0.5:10810/disk0"),
        ("nbd://host/", "nbd://host:10809/"),
        ("nbd+unix:///vda?socket=/run/x.sock", "nbd+unix:///vda?socket=/run/x.sock"),
    ])
    func endpoints(_ uri: String, _ canonical: String) throws {
        #expect(try NBDEndpoint(uri: uri).description == canonical)
    }

    @Test("bad endpoint URIs", arguments: ["http://x/", "nbd:///x", "nbd+unix:///x", "nbd+unix:///x?socket=relative", "nbd://h:99999/"])
    func badEndpoints(_ uri: String) {
        #expect(throws: NBDError.self) { try NBDEndpoint(uri: uri) }
    }
}

@Suite("NBD client against a hostile server", .removesScratch)
struct HostileServerTests {
    @Test("every protocol violation is a clean error", arguments: [
        ("badmagic", "NBDMAGIC"), ("cookie", "unknown cookie"), ("hugelength", "claims 4294967280 bytes"),
        ("truncated", "closed the connection"), ("badchunk", "outside the request"), ("shortread", "covered 16 of 4096"),
    ])
    func violation(mode: String, expected: String) async throws {
        let folder = scratchFolder()
        let server = try ServerProcess.hostile(mode: mode, folder: folder)
        let start = ContinuousClock.now
        do {
            try await NBDClient.withConnection(to: server.endpoint) { nbd in
                _ = try await nbd.read(offset: 0, length: 4096)
            }
            Issue.record("\(mode): no error")
        } catch let error as NBDError {
            #expect(error.description.contains(expected), "\(mode): \(error)")
        }
        #expect(ContinuousClock.now - start < .seconds(10))
    }

    @Test("random replies, shaped like the protocol's or not: data of the asked length, extents inside the request, or an NBDError")
    func fuzz() async throws {
        let folder = scratchFolder()
        let seconds = Double(ProcessInfo.processInfo.environment["FUZZ_SECONDS"] ?? "") ?? 10
        let seed = UInt64(ProcessInfo.processInfo.environment["FUZZ_SEED"] ?? "") ?? UInt64.random(in: 0...UInt64(UInt32.max))
        print("nbd fuzz: seed \(seed) (FUZZ_SEED=\(seed) repeats this run), \(seconds) s")
        let server = try ServerProcess.hostile(mode: "fuzz:\(seed)", folder: folder)
        var random = SplitMix64(seed: seed)
        var outcomes: [String: Int] = [:]
        let deadline = Date() + seconds
        while Date() < deadline {
            let length = Int(random.next() % 70_000) + 1
            let offset = random.next() % 10 == 0 ? random.next() : random.next() % ((1 << 20) - UInt64(length))
            do {
                try await NBDClient.withConnection(to: server.endpoint, metaContexts: ["base:allocation"], handshakeTimeout: .seconds(2)) { nbd in
                    for _ in 0..<3 {
                        if random.next() % 2 == 0 {
                            let data = try await nbd.read(offset: offset, length: length)
                            #expect(data.readableBytes == length, "seed \(seed): a read of \(length) bytes returned \(data.readableBytes)")
                        } else {
                            let extents = try await nbd.blockStatus(offset: offset, length: length, context: "base:allocation")
                            #expect(extents.first?.offset == offset && zip(extents, extents.dropFirst()).allSatisfy { $0.offset + $0.length == $1.offset },
                                    "seed \(seed): extents do not run on from the request's offset")
                        }
                        outcomes["answered", default: 0] += 1
                    }
                }
            } catch let error as NBDError {
                outcomes[String("\(error)".prefix(40)), default: 0] += 1
            }
        }
        print("nbd fuzz: " + outcomes.sorted { $0.value > $1.value }.prefix(12).map { "\($0.key): \($0.value)" }.joined(separator: "; "))
        #expect(outcomes.values.reduce(0, +) > 10)
        #expect(outcomes["answered", default: 0] > 0, "no command was ever answered: the fuzzer only tests negotiation")
    }

    @Test("a server that stalls in negotiation times out")
    func stall() async throws {
        let folder = scratchFolder()
        let server = try ServerProcess.hostile(mode: "stall", folder: folder)
        let start = ContinuousClock.now
        await #expect(throws: NBDError.self) {
            try await NBDClient.withConnection(to: server.endpoint, handshakeTimeout: .seconds(1)) { _ in }
        }
        #expect(ContinuousClock.now - start < .seconds(5))
    }
}
