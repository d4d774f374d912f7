import DiskImage
import Repository

/// Opens a restore point's disk image with its chain, following backing
/// files only inside the VM's folder of the repository
/// (`BackupLayout.chainFolder`): a repository may have been tampered with,
/// and an image's header names its backing file. Every reader of backup
/// images in the engine opens them here.
enum BackupImages {
    static func open(_ path: String) throws -> any DiskImageReader {
        try DiskImages.open(path: path, backingsWithin: BackupLayout.chainFolder(ofImage: path))
    }

    static func qcow2(_ path: String) throws -> QCOW2Image {
        try QCOW2Image(path: path, backingsWithin: BackupLayout.chainFolder(ofImage: path))
    }
}
