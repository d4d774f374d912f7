// Helpers the test targets share: scratch folders, running the real tools
// (qemu-img, qemu-io, nbdkit…), seeded random data, raw reference files.
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Every scratch folder of this test process lives under one root that is
/// removed when the process exits: a run never leaves gigabytes in /tmp,
/// whatever a test did (CI machines have little disk).
public let scratchRoot: String = {
    let root = FileManager.default.temporaryDirectory.path + "/sendense-tests-\(getpid())"
    try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(atPath: scratchRoot) }
    return root
}()

/// A new folder of its own for one test, removed when the test ends if its
/// suite has the `.removesScratch` trait (every suite that writes images
/// should: the whole run must fit a small disk), else at process exit.
/// `shared` folders (fixtures built once for many tests) stay to the end.
public func scratchFolder(_ name: String = "test", shared: Bool = false) -> String {
    let path = scratchRoot + "/\(name)-\(UUID().uuidString.prefix(13))"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    if !shared { ScratchRegistry.current?.add(path) }
    return path
}

/// The scratch folders one test made.
public final class ScratchRegistry: Sendable {
    @TaskLocal public static var current: ScratchRegistry?
    private let paths = Mutex<[String]>([])

    func add(_ path: String) { paths.withLock { $0.append(path) } }

    func removeAll() {
        for path in paths.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: path) }
    }
}

/// Removes each test's scratch folders when the test ends, passed or failed.
public struct RemovesScratch: SuiteTrait, TestTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func scopeProvider(for test: Test, testCase: Test.Case?) -> Self? {
        test.isSuite ? nil : self
    }

    public func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let registry = ScratchRegistry()
        defer { registry.removeAll() }
        try await ScratchRegistry.$current.withValue(registry) { try await function() }
    }
}

extension Trait where Self == RemovesScratch {
    public static var removesScratch: Self { RemovesScratch() }
}

public struct ToolResult: Sendable {
    public var status: Int32
    public var output: String
}

/// Runs a program found on PATH, standard output and error together.
@discardableResult
public func tool(_ arguments: [String]) throws -> ToolResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ToolResult(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
}

/// Runs a program that must succeed and answers what it printed.
@discardableResult
public func mustRun(_ arguments: [String]) throws -> String {
    let result = try tool(arguments)
    try #require(result.status == 0, "\(arguments.joined(separator: " ")) failed: \(result.output)")
    return result.output
}

/// A seeded generator, so a failing random pattern can be replayed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func bytes(_ count: Int) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: count)
        result.withUnsafeMutableBytes { buffer in
            var index = 0
            while index + 8 <= count {
                buffer.storeBytes(of: next(), toByteOffset: index, as: UInt64.self)
                index += 8
            }
            while index < count {
                buffer[index] = UInt8(truncatingIfNeeded: next())
                index += 1
            }
        }
        return result
    }
}

/// A raw file kept in step with an image under test, or one to compare with.
public final class RawReference {
    public let path: String
    let fd: Int32

    /// A new file of `size` zero bytes.
    public init(path: String, size: UInt64) {
        self.path = path
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o644)
        ftruncate(fd, off_t(size))
    }

    /// An existing file, as it is.
    public init(existing path: String, writable: Bool = false) {
        self.path = path
        fd = open(path, writable ? O_RDWR : O_RDONLY)
    }

    deinit { close(fd) }

    public func write(_ bytes: [UInt8], at offset: UInt64) {
        let written = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
        precondition(written == bytes.count)
    }

    public func read(count: Int, at offset: UInt64) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
        precondition(n == count)
        return bytes
    }
}

/// The package's root folder (this file is Tests/TestSupport/TestSupport.swift).
public let packageRoot: String = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// The `sendense` binary `swift build` made (`SENDENSE_BINARY` overrides):
/// the command line as users run it, and the file-restore worker hubs start.
public let sendenseBinary: String = ProcessInfo.processInfo.environment["SENDENSE_BINARY"] ?? packageRoot + "/.build/debug/sendense"

/// The catalog's migrations, in order, as a hub of this version applies
/// them: the tests that check a catalog's schema compare against it (one
/// list, so a new migration is named once).
public let catalogMigrations = [
    "v1-foundation", "v2-protection-flows", "v3-child-processes", "v4-job-history", "v5-restore-history", "v6-libvirt-live-backups",
    "v7-backup-list-order", "v8-recoveries", "v9-vm-restores", "v10-boot-checks", "v11-vcenter-restores", "v12-flow-boot-checks",
]
