import CTSK
import Foundation
import DiskImage

#if canImport(Glibc)
import Glibc
#endif

/// A disk image as libtsk sees it: `tsk_img_open_external` with a read
/// callback that reads the backup's QCOW2 chain in place, so no copy of the
/// disk is ever made and nothing is mounted.
final class TSKImage {
    let info: UnsafeMutablePointer<TSK_IMG_INFO>

    /// What the C callback needs; it lives until libtsk calls close.
    final class Source {
        let reader: any DiskImageReader
        /// The reader's own error for the last failed read, which says more
        /// than libtsk's generic "read error".
        var lastError: String?

        init(reader: any DiskImageReader) { self.reader = reader }
    }

    private let source: Source

    init(reader: any DiskImageReader) throws {
        guard let image = sendense_tsk_image_alloc() else {
            throw FileRestoreError.noFilesystem(reason: "out of memory")
        }
        let source = Source(reader: reader)
        image.pointee.context = Unmanaged.passRetained(source).toOpaque()
        tsk_error_reset()
        guard let info = tsk_img_open_external(
            image, TSK_OFF_T(reader.virtualSize), 512, tskImageRead, tskImageClose, tskImageStat)
        else {
            let reason = TSKImage.takeError()
            tskImageClose(UnsafeMutableRawPointer(image).assumingMemoryBound(to: TSK_IMG_INFO.self))
            throw FileRestoreError.noFilesystem(reason: reason)
        }
        self.info = info
        self.source = source
    }

    deinit { tsk_img_close(info) }

    /// Reads raw disk bytes (for superblock fields libtsk does not expose).
    func read(count: Int, at offset: UInt64) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        let n = bytes.withUnsafeMutableBytes { buffer in
            tsk_img_read(info, TSK_OFF_T(offset), buffer.baseAddress?.assumingMemoryBound(to: CChar.self), count)
        }
        return n == count ? bytes : nil
    }

    /// libtsk's message for the last failure on this thread (its errors are
    /// thread-local), plus the reader's own when a read failed; then clears both.
    func takeError() -> String {
        var message = TSKImage.takeError()
        if let detail = source.lastError {
            message += ": " + detail
            source.lastError = nil
        }
        return message
    }

    static func takeError() -> String {
        defer { tsk_error_reset() }
        guard let text = tsk_error_get() else { return "unknown libtsk error" }
        return String(cString: text).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

private func source(of image: UnsafeMutablePointer<TSK_IMG_INFO>) -> TSKImage.Source? {
    let wrapper = UnsafeMutableRawPointer(image).assumingMemoryBound(to: SendenseTSKImage.self)
    guard let context = wrapper.pointee.context else { return nil }
    return Unmanaged<TSKImage.Source>.fromOpaque(context).takeUnretainedValue()
}

private func tskImageRead(
    _ image: UnsafeMutablePointer<TSK_IMG_INFO>?, _ offset: TSK_OFF_T, _ buffer: UnsafeMutablePointer<CChar>?, _ length: Int
) -> Int {
    guard let image, let buffer, offset >= 0, let source = source(of: image) else { return -1 }
    let size = source.reader.virtualSize
    guard UInt64(offset) < size else { return 0 }
    let count = Int(min(UInt64(length), size - UInt64(offset)))
    do {
        try source.reader.read(into: UnsafeMutableRawBufferPointer(start: buffer, count: count), at: UInt64(offset))
        return count
    } catch {
        source.lastError = "\(error)"
        return -1
    }
}

private func tskImageClose(_ image: UnsafeMutablePointer<TSK_IMG_INFO>?) {
    guard let image else { return }
    let wrapper = UnsafeMutableRawPointer(image).assumingMemoryBound(to: SendenseTSKImage.self)
    if let context = wrapper.pointee.context {
        Unmanaged<TSKImage.Source>.fromOpaque(context).release()
    }
    free(wrapper)
}

private func tskImageStat(_ image: UnsafeMutablePointer<TSK_IMG_INFO>?, _ file: UnsafeMutablePointer<FILE>?) {}
