import Engine
import Foundation
import TestSupport
import Testing

@Suite("Disk restores as jobs", .removesScratch)
struct RestoreServiceTests {
    @Test("finished restores are kept up to a limit, the oldest going first; each restored exactly")
    func keepsTheNewestFinished() async throws {
        let folder = scratchFolder()
        let image = folder + "/disk.qcow2"
        try mustRun(["qemu-img", "create", "-q", "-f", "qcow2", image, "4M"])
        try mustRun(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 512k", image])
        let restores = RestoreService(keepFinished: 2)
        var ids: [String] = []
        for index in 0..<3 {
            let target = folder + "/restored-\(index).raw"
            let job = await restores.start(backupID: "b", diskIndex: 0, image: image, target: .file(path: target, format: "raw"))
            await restores.wait(for: job.jobID)
            #expect(await restores.status(of: job.jobID)?.status == "completed")
            try mustRun(["qemu-img", "compare", "-q", "-f", "raw", "-F", "qcow2", target, image])
            ids.append(job.jobID)
        }
        #expect(await restores.all().map(\.jobID).sorted() == ids.suffix(2).sorted())
        #expect(await restores.status(of: ids[0]) == nil)
    }
}
