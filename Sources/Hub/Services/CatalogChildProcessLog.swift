import Catalog
import Sources

/// Records the NBD servers jobs start in the catalog (see ChildProcessLog).
struct CatalogChildProcessLog: ChildProcessLog {
    let catalog: CatalogDatabase

    func started(_ process: ChildProcess) async {
        try? await catalog.recordChildProcess(ChildProcessRecord(
            pid: Int64(process.pid), startTime: Int64(process.startTime), command: process.command, jobId: process.jobID))
    }

    func ended(_ process: ChildProcess) async {
        try? await catalog.forgetChildProcess(pid: Int64(process.pid), startTime: Int64(process.startTime))
    }
}
