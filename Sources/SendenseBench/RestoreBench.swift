// Disk restore against the reference tool: the newest restore point of the
// backup benchmark (a full and its incrementals, a chain of qcow2 files) is
// flattened into a new raw file and a new qcow2 file by Sendense
// (DiskRestore, the QCOW2 reader of the chain) and by `qemu-img convert`
// in its durable mode (`-t none`: direct writes, then a flush; a restore
// is done only once its output is on disk). Best of `runs`; each output is
// judged by `qemu-img compare` against the chain. Then the same onto an
// NBD export, against `qemu-img convert -n` to the same kind of export.
import DiskImage
import Engine
import Foundation
import NBD

#if canImport(Glibc)
import Glibc
#endif

func restoreBench(top: String, work: String, runs: Int) async throws {
    print("")
    for format in ["raw", "qcow2"] {
        var ours = Double.infinity, reference = Double.infinity
        for run in 1...runs {
            let output = work + "/restored-\(run).\(format)"
            try shell("sync")
            let time = try await seconds { try await withTaskExecutorPreference(jobExecutor) { try await DiskRestore.restore(image: top, to: .file(path: output, format: format)) } }
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

    // Onto an NBD export (a qemu-nbd serving a new raw file, writing past the page cache so the
    // target's own flush does not drown the difference), as a restore onto a VM's disk goes; both
    // end with an NBD flush.
    let size = try DiskImages.open(path: top, backingsWithin: nil).virtualSize
    var ours = Double.infinity, reference = Double.infinity
    for run in 1...runs {
        for tool in ["sendense", "qemu-img"] {
            let output = work + "/restored-nbd.raw", socket = work + "/restore-target.sock"
            try shell("qemu-img create -q -f raw \(output) \(size)")
            let server = Process()
            server.executableURL = URL(fileURLWithPath: "/usr/bin/qemu-nbd")
            server.arguments = ["-f", "raw", "--cache=none", "--aio=native", "--persistent", "-k", socket, "--pid-file", socket + ".pid", output]
            try server.run()
            // Both tools end with an NBD flush: qemu-nbd has nothing left to write (it takes its time over SIGTERM).
            defer {
                kill(server.processIdentifier, SIGKILL)
                server.waitUntilExit()
            }
            while !FileManager.default.fileExists(atPath: socket + ".pid") {
                guard server.isRunning else { throw BenchError("qemu-nbd did not start for \(output)") }
                usleep(1000)
            }
            try shell("sync")
            let time = try await seconds {
                if tool == "sendense" {
                    try await withTaskExecutorPreference(jobExecutor) {
                        try await DiskRestore.restore(image: top, to: .nbd(NBDEndpoint(transport: .unix(path: socket), exportName: "")))
                    }
                } else {
                    try shell("qemu-img convert -n -f qcow2 -O raw \(top) 'nbd+unix:///?socket=\(socket)'")
                }
            }
            try shell("qemu-img compare -U -f raw -F qcow2 \(output) \(top) > /dev/null")
            try FileManager.default.removeItem(atPath: output)
            if tool == "sendense" { ours = min(ours, time) } else { reference = min(reference, time) }
            print(String(format: "restore to NBD run %d: %@ %.2f s", run, tool, time))
        }
    }
    print(String(format: "restore to NBD: sendense %.2f s, qemu-img convert %.2f s, ratio %.2f (>= 1.0: as fast or faster)",
                 ours, reference, reference / ours))
}
