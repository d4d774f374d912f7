import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A folder of its own for each test.
func scratchFolder() -> String {
    let path = FileManager.default.temporaryDirectory.path + "/sendense-img-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

struct ToolResult {
    var status: Int32
    var output: String
}

/// Runs qemu-img, qemu-io and friends: the real tools are the judges.
@discardableResult
func tool(_ arguments: [String]) throws -> ToolResult {
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

/// Runs a tool that must succeed.
func mustRun(_ arguments: [String]) throws {
    let result = try tool(arguments)
    try #require(result.status == 0, "\(arguments.joined(separator: " ")) failed: \(result.output)")
}

/// A seeded generator, so a failing random pattern can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func bytes(_ count: Int) -> [UInt8] {
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

/// A raw file kept in step with an image under test.
final class RawReference {
    let path: String
    let fd: Int32

    /// A new file of `size` zero bytes.
    init(path: String, size: UInt64) {
        self.path = path
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o644)
        ftruncate(fd, off_t(size))
    }

    /// An existing file, as it is.
    init(existing path: String, writable: Bool = false) {
        self.path = path
        fd = open(path, writable ? O_RDWR : O_RDONLY)
    }

    deinit { close(fd) }

    func write(_ bytes: [UInt8], at offset: UInt64) {
        let written = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
        precondition(written == bytes.count)
    }

    func read(count: Int, at offset: UInt64) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
        precondition(n == count)
        return bytes
    }
}
