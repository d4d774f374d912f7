import Foundation
import SendenseCore

/// `qemu-img` as the source of truth about image files: format, size,
/// persistent bitmaps, and adding or removing them.
enum QemuImageTool {
    struct Info: Sendable {
        var format: String
        var virtualSize: UInt64
        /// Persistent bitmaps and whether each is consistent (not "in-use",
        /// which QEMU leaves set when it stopped without saving the bitmap).
        var bitmaps: [String: Bool]
    }

    static func info(_ path: String) async throws -> Info {
        let output = try await run(["info", "--output=json", "-U", path])
        guard let json = try? JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any],
              let format = json["format"] as? String, let size = (json["virtual-size"] as? NSNumber)?.uint64Value
        else { throw SourceError.toolFailed(command: "qemu-img info \(path)", message: "unexpected output") }
        var bitmaps: [String: Bool] = [:]
        let data = (json["format-specific"] as? [String: Any])?["data"] as? [String: Any]
        for bitmap in data?["bitmaps"] as? [[String: Any]] ?? [] {
            guard let name = bitmap["name"] as? String else { continue }
            let flags = bitmap["flags"] as? [String] ?? []
            bitmaps[name] = !flags.contains("in-use")
        }
        return Info(format: format, virtualSize: size, bitmaps: bitmaps)
    }

    static func addBitmap(_ name: String, to path: String) async throws {
        _ = try await run(["bitmap", "--add", "--enable", path, name])
    }

    static func removeBitmap(_ name: String, from path: String) async throws {
        _ = try await run(["bitmap", "--remove", path, name])
    }

    /// Runs qemu-img on the blocking pool and answers its standard output.
    static func run(_ arguments: [String]) async throws -> String {
        try await BlockingPool.shared.run {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/qemu-img")
            process.arguments = arguments
            let out = Pipe(), err = Pipe()
            process.standardOutput = out
            process.standardError = err
            let exited = process.exitSignal()
            do {
                try process.run()
            } catch {
                throw SourceError.toolFailed(command: "qemu-img", message: "cannot start: \(error)")
            }
            let output = out.fileHandleForReading.readDataToEndOfFile()
            let errors = err.fileHandleForReading.readDataToEndOfFile()
            exited.wait()
            guard process.terminationStatus == 0 else {
                let message = String(decoding: errors, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                throw SourceError.toolFailed(command: "qemu-img \(arguments.prefix(2).joined(separator: " "))", message: message)
            }
            return String(decoding: output, as: UTF8.self)
        }
    }
}
