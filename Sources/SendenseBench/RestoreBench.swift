// Disk restore against the reference tool: the newest restore point of the
// backup benchmark (a full and its incrementals, a chain of qcow2 files) is
// flattened into a new raw file and a new qcow2 file by Sendense
// (DiskRestore, the QCOW2 reader of the chain) and by `qemu-img convert`
// in its durable mode (`-t none`: direct writes, then a flush; a restore
// is done only once its output is on disk). Best of `runs`; each output is
// judged by `qemu-img compare` against the chain.
import Engine
import Foundation

func restoreBench(top: String, work: String, runs: Int) async throws {
    print("")
    for format in ["raw", "qcow2"] {
        var ours = Double.infinity, reference = Double.infinity
        for run in 1...runs {
            let output = work + "/restored-\(run).\(format)"
            try shell("sync")
            let time = try await seconds { try await DiskRestore.restore(image: top, to: .file(path: output, format: format)) }
            try shell("qemu-img compare -f \(format) -F qcow2 \(output) \(top) > /dev/null")
            try FileManager.default.removeItem(atPath: output)
            try shell("sync")
            let convert = try await seconds { try shell("qemu-img convert -t none -f qcow2 -O \(format) \(top) \(output)") }
            try FileManager.default.removeItem(atPath: output)
            ours = min(ours, time)
            reference = min(reference, convert)
            print(String(format: "restore to %@ run %d: sendense %.2f s, qemu-img convert -t none %.2f s", format, run, time, convert))
        }
        print(String(format: "restore to %-5@: sendense %.2f s, qemu-img convert -t none %.2f s, ratio %.2f (>= 1.0: as fast or faster)",
                     format, ours, reference, reference / ours))
    }
}
