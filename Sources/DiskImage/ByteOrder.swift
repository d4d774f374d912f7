/// Integers in byte buffers. Big-endian: every number in QCOW2 (and XFS) is stored so; VMDK, LVM2 and btrfs are little-endian.
extension UnsafeRawBufferPointer {
    @inline(__always)
    func beUInt64(at offset: Int) -> UInt64 {
        UInt64(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inline(__always)
    func beUInt32(at offset: Int) -> UInt32 {
        UInt32(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inline(__always)
    func beUInt16(at offset: Int) -> UInt16 {
        UInt16(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }
}

extension [UInt8] {
    package func beUInt64(at offset: Int) -> UInt64 { withUnsafeBytes { $0.beUInt64(at: offset) } }
    package func beUInt32(at offset: Int) -> UInt32 { withUnsafeBytes { $0.beUInt32(at: offset) } }
    package func beUInt16(at offset: Int) -> UInt16 { withUnsafeBytes { $0.beUInt16(at: offset) } }

    /// Little-endian integers (LVM2, btrfs), read byte by byte: a bad offset
    /// traps instead of reading past the array.
    package func le16(at offset: Int) -> UInt16 { UInt16(self[offset]) | UInt16(self[offset + 1]) << 8 }

    package func le32(at offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(self[offset + $1]) << (8 * $1) }
    }

    package func le64(at offset: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(self[offset + $1]) << (8 * $1) }
    }

    /// Writes `value` big-endian in its own width. Unsigned only: a bare literal would be an `Int`
    /// and silently take eight bytes, so it does not compile.
    mutating func putBE<T: FixedWidthInteger & UnsignedInteger>(_ value: T, at offset: Int) {
        withUnsafeMutableBytes { $0.storeBytes(of: value.bigEndian, toByteOffset: offset, as: T.self) }
    }

    /// Little-endian (VMDK).
    mutating func putLE<T: FixedWidthInteger & UnsignedInteger>(_ value: T, at offset: Int) {
        withUnsafeMutableBytes { $0.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self) }
    }
}
