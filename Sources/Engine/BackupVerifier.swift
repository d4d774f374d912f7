import Crypto
import DiskImage
import Foundation
import Repository
import SendenseCore

/// Re-reads every run a backup wrote, through its chain, and checks it
/// against the manifest: data runs by SHA-256, zero runs by reading zeros.
public enum BackupVerifier {
    public struct Report: Sendable {
        public var ok: Bool
        public var runsChecked: Int
        public var bytesChecked: UInt64
        public var firstMismatch: String?
    }

    public static func verify(backupDirectory: String) throws -> Report {
        let manifest = try BackupManifest.read(from: backupDirectory)
        var report = Report(ok: true, runsChecked: 0, bytesChecked: 0)
        for disk in manifest.disks {
            let image = try BackupImages.open(backupDirectory + "/" + disk.file)
            guard image.virtualSize == disk.capacityBytes else {
                return fail(report, "disk \(disk.index): image size \(image.virtualSize) differs from manifest \(disk.capacityBytes)")
            }
            for run in disk.runs {
                var hasher = SHA256()
                var allZero = true
                var offset = run.offset
                let end = run.offset + run.length
                var buffer = [UInt8](repeating: 0, count: 4 << 20)
                while offset < end {
                    let count = Int(min(UInt64(buffer.count), end - offset))
                    try buffer.withUnsafeMutableBytes { try image.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<count]), at: offset) }
                    buffer.withUnsafeBytes { bytes in
                        let slice = UnsafeRawBufferPointer(rebasing: bytes[0..<count])
                        if run.kind == .data { hasher.update(bufferPointer: slice) } else if allZero { allZero = slice.allSatisfy { $0 == 0 } }
                    }
                    offset += UInt64(count)
                }
                report.runsChecked += 1
                report.bytesChecked += run.length
                if run.kind == .data {
                    let digest = hasher.finalize().lowercaseHex
                    if digest != run.sha256 {
                        return fail(report, "disk \(disk.index): data at \(run.offset)+\(run.length) does not match its SHA-256")
                    }
                } else if !allZero {
                    return fail(report, "disk \(disk.index): \(run.offset)+\(run.length) should read zeros")
                }
            }
        }
        return report
    }

    private static func fail(_ report: Report, _ message: String) -> Report {
        var report = report
        report.ok = false
        report.firstMismatch = message
        return report
    }
}
