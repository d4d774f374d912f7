// File-level restore against its goals, in one run, as the hub does it: the
// disk read by a file-restore worker process (`sendense flr-worker`, next to
// this binary), every answer crossing its socket. A 10 GiB GPT disk (qcow2)
// whose ext4 partition holds a 1 GiB file and a folder of 10,000 files.
//   mount (start the worker; libtsk opens the partition table and filesystem): goal < 1 s
//   listing the 10,000-file folder:                            goal < 300 ms
//   reading the 1 GiB file through the worker, against reading as many
//   bytes straight from the qcow2 chain in this process:        goal >= 80%
import DiskImage
import FileRestore
import Foundation

func fileRestoreBench(work: String, runs: Int) async throws {
    let folder = work + "/files"
    let tree = folder + "/tree"
    try FileManager.default.createDirectory(atPath: tree + "/many", withIntermediateDirectories: true)
    print("preparing a 10 GiB disk with a 1 GiB file and 10,000 small files in \(folder) ...")
    for index in 0..<10_000 {
        _ = FileManager.default.createFile(atPath: tree + "/many/file-\(index).txt", contents: Data("\(index)\n".utf8))
    }
    do {
        let fd = open(tree + "/big.bin", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(block), alignment: 8)
        defer { buffer.deallocate() }
        var state: UInt64 = 99
        for index in 0..<UInt64(16) {
            fillRandom(buffer, state: &state)
            _ = pwrite(fd, buffer.baseAddress, Int(block), off_t(index * block))
        }
        close(fd)
    }
    let fsSize: UInt64 = 10 << 30
    try shell("""
        cd \(folder) && mkfs.ext4 -q -F -b 4096 -L bench -d tree fs.raw \(fsSize >> 20)M && rm -rf tree \
        && truncate -s \((fsSize >> 20) + 2)M disk.raw \
        && printf 'label: gpt\\nstart=2048, size=%d, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\\n' \(fsSize / 512) | sfdisk --quiet disk.raw \
        && dd if=fs.raw of=disk.raw bs=4M seek=1M oflag=seek_bytes conv=notrunc,sparse status=none && rm fs.raw \
        && qemu-img convert -f raw -O qcow2 disk.raw disk.qcow2 && rm disk.raw
        """)
    let disk = folder + "/disk.qcow2"

    let executable = URL(fileURLWithPath: FileRestoreWorker.Settings.currentExecutable)
        .deletingLastPathComponent().appendingPathComponent("sendense").path
    guard FileManager.default.isExecutableFile(atPath: executable) else {
        throw BenchError("\(executable) is missing: swift build -c release --product sendense")
    }
    var mountBest = Double.infinity
    var worker: FileRestoreWorker?
    for _ in 1...runs {
        worker?.stop()
        let time = try await seconds { worker = try FileRestoreWorker(imagePath: disk, settings: .init(executable: executable)) }
        mountBest = min(mountBest, time)
    }
    guard let worker else { throw BenchError("no worker") }
    var listBest = Double.infinity
    var listed = 0
    for _ in 1...runs {
        // A new worker each time: its cached listing would flatter the figure.
        let fresh = try FileRestoreWorker(imagePath: disk, settings: .init(executable: executable))
        let time = try await seconds { listed = try fresh.list("/many", offset: 0, limit: 10_000).entries.count }
        fresh.stop()
        listBest = min(listBest, time)
    }
    guard listed == 10_000 else { throw BenchError("listed \(listed) of 10,000 files") }
    // The same listing in this process (libtsk and the sort alone), for what the worker adds.
    var inProcessBest = Double.infinity
    for _ in 1...runs {
        let browser = try RestoreBrowser(image: DiskImages.open(path: disk, backingsWithin: nil))
        inProcessBest = min(inProcessBest, try await seconds { _ = try browser.list("/many") })
    }

    let piece = Int(environment["PIECE_KIB"] ?? "").map { $0 << 10 } ?? 1 << 20
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: piece, alignment: 4096)
    defer { buffer.deallocate() }
    let entry = try worker.entry(at: "/big.bin")
    // Cold reads when the page cache can be dropped (root), else warm ones.
    let cold = (try? shell("sync && echo 3 > /proc/sys/vm/drop_caches")) != nil
    var fileBest = Double.infinity
    var chainBest = Double.infinity
    for _ in 1...runs {
        if cold { try shell("sync && echo 3 > /proc/sys/vm/drop_caches") }
        fileBest = min(fileBest, try await seconds {
            var offset: UInt64 = 0
            while offset < entry.size { offset += UInt64(try worker.read(entry, at: offset, into: buffer)) }
        })
        let image = try DiskImages.open(path: disk, backingsWithin: nil)
        if cold { try shell("sync && echo 3 > /proc/sys/vm/drop_caches") }
        // The reference reads as many bytes of allocated data from the chain
        // (holes would read as zeros with no I/O and flatter it).
        let extents = try image.extents(from: 1 << 20, length: image.virtualSize - (1 << 20)).filter { $0.kind == .data }
        chainBest = min(chainBest, try await seconds {
            var remaining = entry.size
            for extent in extents where remaining > 0 {
                var offset = extent.offset
                while offset < extent.end && remaining > 0 {
                    let count = Int(min(UInt64(piece), extent.end - offset, remaining))
                    try image.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]), at: offset)
                    offset += UInt64(count)
                    remaining -= UInt64(count)
                }
            }
        })
    }
    let mb = Double(entry.size) / 1e6
    print("")
    print(String(format: "file restore: mount of a 10 GiB disk     %6.0f ms (goal < 1000 ms)", mountBest * 1000))
    print(String(format: "file restore: list 10,000 files           %6.0f ms (goal < 300 ms; %.0f ms of it libtsk and the sort, in-process)",
                 listBest * 1000, inProcessBest * 1000))
    worker.stop()
    print(String(format: "file restore: read 1 GiB file via worker %7.1f MB/s; same bytes from the qcow2 chain %7.1f MB/s; ratio %.2f (goal >= 0.80; %@ page cache)",
                 mb / fileBest, mb / chainBest, chainBest / fileBest, cold ? "cold" : "warm"))
    try? FileManager.default.removeItem(atPath: folder)
}
