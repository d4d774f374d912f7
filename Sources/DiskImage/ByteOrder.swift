/// Big-endian integers in byte buffers: every number in QCOW2 is stored so.
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
    func beUInt64(at offset: Int) -> UInt64 { withUnsafeBytes { $0.beUInt64(at: offset) } }
    func beUInt32(at offset: Int) -> UInt32 { withUnsafeBytes { $0.beUInt32(at: offset) } }

    mutating func putBE(_ value: UInt64, at offset: Int) {
        withUnsafeMutableBytes { $0.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt64.self) }
    }

    mutating func putBE(_ value: UInt32, at offset: Int) {
        withUnsafeMutableBytes { $0.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self) }
    }

    mutating func putBE(_ value: UInt16, at offset: Int) {
        withUnsafeMutableBytes { $0.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt16.self) }
    }
}
