import BackupSources
import Catalog

/// Records the NBD servers jobs start in the catalog (see ChildProcessLog).
public struct CatalogChildProcessLog: ChildProcessLog {
    let catalog: CatalogDatabase

    public init(catalog: CatalogDatabase) { self.catalog = catalog }

    public func started(_ process: ChildProcess) async {
        try? await catalog.recordChildProcess(ChildProcessRecord(
            pid: Int64(process.pid), startTime: Int64(process.startTime), command: process.command, jobId: process.jobID))
    }

    public func ended(_ process: ChildProcess) async {
        try? await catalog.forgetChildProcess(pid: Int64(process.pid), startTime: Int64(process.startTime))
    }
}
