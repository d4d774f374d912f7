import Foundation
import SendenseCore

extension APIJSON {
    /// A value's JSON as the API sends it. Written straight into bytes by
    /// `DirectJSONEncoder`: Foundation's encoder builds a tree of boxed values
    /// first and took two thirds of the time a 1,000-VM list took to answer.
    /// Same output as `encoder` but for the order of keys (the order the type
    /// writes them, where `encoder` sorts them); a type that uses a container
    /// out of order goes through `encoder`.
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let direct = DirectJSONEncoder()
        do {
            try direct.encodeValue(value)
            return direct.output
        } catch is DirectJSONEncoder.OutOfOrder {
            return [UInt8](try encoder.encode(value))
        }
    }
}

/// Writes JSON as `encode(to:)` calls come, in one pass. Synthesized and
/// hand-written `Encodable`s use one container per value and fill it in order,
/// which is all it supports; nested containers, super encoders and writes to a
/// container after a later one was opened throw `OutOfOrder`.
final class DirectJSONEncoder: Encoder {
    struct OutOfOrder: Error {}

    /// An open object or array: the byte that closes it and how many members it has so far.
    struct Frame {
        var closer: UInt8
        var members = 0
        var keyed: Bool { closer == UInt8(ascii: "}") }
    }

    // Unchecked exclusivity: a class's stored properties are otherwise checked
    // at run time on every access (a thread-local access set), which was a fifth
    // of the CPU a 1,000-VM list took (perf). No access to them overlaps
    // another: every write is a whole call that starts and ends its own access,
    // and the encoder lives on one task for one value.
    @exclusivity(unchecked) private(set) var output: [UInt8] = []
    @exclusivity(unchecked) private var frames: [Frame] = []
    /// The frame count when the value being encoded began, and whether it has written anything.
    @exclusivity(unchecked) private var valueBase = 0
    @exclusivity(unchecked) private var valueStarted = false

    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init() { output.reserveCapacity(4096) }

    func encodeValue<T: Encodable>(_ value: T) throws {
        if T.self == Date.self { return writeString(Timestamp.format(value as! Date)) }
        if T.self == URL.self { return writeString((value as! URL).absoluteString) }
        if T.self == Data.self { return writeString((value as! Data).base64EncodedString()) }
        let saved = (valueBase, valueStarted)
        valueBase = frames.count
        valueStarted = false
        defer { (valueBase, valueStarted) = saved }
        try value.encode(to: self)
        if !valueStarted { return output.append(contentsOf: "{}".utf8) }
        while frames.count > valueBase { output.append(frames.removeLast().closer) }
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        // A second request for the value's keyed container (allowed by Codable) continues the same object.
        if !valueStarted {
            valueStarted = true
            output.append(UInt8(ascii: "{"))
            frames.append(Frame(closer: UInt8(ascii: "}")))
        }
        return KeyedEncodingContainer(Keyed(encoder: self, depth: frames.count))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if !valueStarted {
            valueStarted = true
            output.append(UInt8(ascii: "["))
            frames.append(Frame(closer: UInt8(ascii: "]")))
        }
        return Unkeyed(encoder: self, depth: frames.count)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { Single(encoder: self, base: frames.count) }

    /// Before a member of the container at `depth`: that container must be the innermost one open
    /// and of the right kind; writes the separating comma.
    fileprivate func beginMember(depth: Int, keyed: Bool) throws {
        guard depth == frames.count, depth > valueBase, frames[depth - 1].keyed == keyed else { throw OutOfOrder() }
        if frames[depth - 1].members > 0 { output.append(UInt8(ascii: ",")) }
        frames[depth - 1].members += 1
    }

    fileprivate func beginMember(depth: Int, key: some CodingKey) throws {
        try beginMember(depth: depth, keyed: true)
        writeString(key.stringValue)
        output.append(UInt8(ascii: ":"))
    }

    /// Before a single value: nothing may have been written for the value yet.
    fileprivate func beginSingle(base: Int) throws {
        guard base == frames.count, !valueStarted else { throw OutOfOrder() }
        valueStarted = true
    }

    // MARK: Scalars

    fileprivate func writeNull() { output.append(contentsOf: "null".utf8) }
    fileprivate func writeBool(_ value: Bool) { output.append(contentsOf: (value ? "true" : "false").utf8) }
    fileprivate func writeInteger(_ value: some BinaryInteger) { output.append(contentsOf: String(value).utf8) }

    /// As Foundation writes them: shortest form, no `.0` on whole numbers; NaN and infinity are errors.
    fileprivate func writeFloat<F: BinaryFloatingPoint & LosslessStringConvertible>(_ value: F) throws {
        guard value.isFinite else {
            throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "\(value) is not valid in JSON"))
        }
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        output.append(contentsOf: text.utf8)
    }

    fileprivate func writeString(_ value: String) {
        var value = value
        value.withUTF8 { Self.appendQuoted($0, to: &output) }
    }

    /// Most strings (every key, nearly every value) need no escape: those are copied whole.
    private static func appendQuoted(_ bytes: UnsafeBufferPointer<UInt8>, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        guard let first = bytes.firstIndex(where: needsEscape) else {
            output.append(contentsOf: bytes)
            return output.append(UInt8(ascii: "\""))
        }
        output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[..<first]))
        for byte in bytes[first...] {
            guard needsEscape(byte) else {
                output.append(byte)
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): output.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): output.append(contentsOf: #"\\"#.utf8)
            case 0x0A: output.append(contentsOf: #"\n"#.utf8)
            case 0x0D: output.append(contentsOf: #"\r"#.utf8)
            case 0x09: output.append(contentsOf: #"\t"#.utf8)
            case 0x08: output.append(contentsOf: #"\b"#.utf8)
            case 0x0C: output.append(contentsOf: #"\f"#.utf8)
            default:
                let hex = Array("0123456789abcdef".utf8)
                output.append(contentsOf: #"\u00"#.utf8)
                output.append(hex[Int(byte >> 4)])
                output.append(hex[Int(byte & 0xF)])
            }
        }
        output.append(UInt8(ascii: "\""))
    }

    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }

    /// Any value a container holds: the common scalars directly (a type comparison costs less than
    /// the container `encode(to:)` would ask for), the rest through `encodeValue`.
    fileprivate func write<T: Encodable>(_ value: T) throws {
        if T.self == String.self { writeString(unsafeBitCast(value, to: String.self)) }
        else if T.self == Int.self { writeInteger(unsafeBitCast(value, to: Int.self)) }
        else if T.self == Int64.self { writeInteger(unsafeBitCast(value, to: Int64.self)) }
        else if T.self == Bool.self { writeBool(unsafeBitCast(value, to: Bool.self)) }
        else if T.self == Double.self { try writeFloat(unsafeBitCast(value, to: Double.self)) }
        else { try encodeValue(value) }
    }
}

private struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: DirectJSONEncoder
    let depth: Int
    var codingPath: [any CodingKey] { [] }

    mutating func encodeNil(forKey key: Key) throws { try encoder.beginMember(depth: depth, key: key); encoder.writeNull() }
    mutating func encode(_ value: Bool, forKey key: Key) throws { try encoder.beginMember(depth: depth, key: key); encoder.writeBool(value) }
    mutating func encode(_ value: String, forKey key: Key) throws { try encoder.beginMember(depth: depth, key: key); encoder.writeString(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try encoder.beginMember(depth: depth, key: key); try encoder.writeFloat(value) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try encoder.beginMember(depth: depth, key: key); try encoder.writeFloat(value) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try encoder.beginMember(depth: depth, key: key); encoder.writeInteger(value) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try encoder.beginMember(depth: depth, key: key); encoder.writeInteger(value) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try encoder.beginMember(depth: depth, key: key); encoder.writeInteger(value) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try encoder.beginMember(depth: depth, key: key); encoder.writeInteger(value) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try encoder.beginMember(depth: depth, key: key); encoder.writeInteger(value) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try encoder.beginMember(depth: depth, key: key); encoder.writeInteger(value) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try encoder.beginMember(depth: depth, key: key); encoder.writeInteger(value) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try encoder.beginMember(depth: depth, key: key); encoder.writeInteger(value) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try encoder.beginMember(depth: depth, key: key); encoder.writeInteger(value) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try encoder.beginMember(depth: depth, key: key); encoder.writeInteger(value) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try encoder.beginMember(depth: depth, key: key); try encoder.write(value) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(Refused<NestedKey>())
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer { Refused<Key>() }
    mutating func superEncoder() -> any Encoder { RefusedEncoder() }
    mutating func superEncoder(forKey key: Key) -> any Encoder { RefusedEncoder() }
}

private struct Unkeyed: UnkeyedEncodingContainer {
    let encoder: DirectJSONEncoder
    let depth: Int
    private(set) var count = 0
    var codingPath: [any CodingKey] { [] }

    init(encoder: DirectJSONEncoder, depth: Int) {
        self.encoder = encoder
        self.depth = depth
    }

    private mutating func begin() throws {
        try encoder.beginMember(depth: depth, keyed: false)
        count += 1
    }

    mutating func encodeNil() throws { try begin(); encoder.writeNull() }
    mutating func encode(_ value: Bool) throws { try begin(); encoder.writeBool(value) }
    mutating func encode(_ value: String) throws { try begin(); encoder.writeString(value) }
    mutating func encode(_ value: Double) throws { try begin(); try encoder.writeFloat(value) }
    mutating func encode(_ value: Float) throws { try begin(); try encoder.writeFloat(value) }
    mutating func encode(_ value: Int) throws { try begin(); encoder.writeInteger(value) }
    mutating func encode(_ value: Int8) throws { try begin(); encoder.writeInteger(value) }
    mutating func encode(_ value: Int16) throws { try begin(); encoder.writeInteger(value) }
    mutating func encode(_ value: Int32) throws { try begin(); encoder.writeInteger(value) }
    mutating func encode(_ value: Int64) throws { try begin(); encoder.writeInteger(value) }
    mutating func encode(_ value: UInt) throws { try begin(); encoder.writeInteger(value) }
    mutating func encode(_ value: UInt8) throws { try begin(); encoder.writeInteger(value) }
    mutating func encode(_ value: UInt16) throws { try begin(); encoder.writeInteger(value) }
    mutating func encode(_ value: UInt32) throws { try begin(); encoder.writeInteger(value) }
    mutating func encode(_ value: UInt64) throws { try begin(); encoder.writeInteger(value) }
    mutating func encode<T: Encodable>(_ value: T) throws { try begin(); try encoder.write(value) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(Refused<NestedKey>())
    }
    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { Refused<AnyCodingKey>() }
    mutating func superEncoder() -> any Encoder { RefusedEncoder() }
}

private struct Single: SingleValueEncodingContainer {
    let encoder: DirectJSONEncoder
    let base: Int
    var codingPath: [any CodingKey] { [] }

    mutating func encodeNil() throws { try encoder.beginSingle(base: base); encoder.writeNull() }
    mutating func encode(_ value: Bool) throws { try encoder.beginSingle(base: base); encoder.writeBool(value) }
    mutating func encode(_ value: String) throws { try encoder.beginSingle(base: base); encoder.writeString(value) }
    mutating func encode(_ value: Double) throws { try encoder.beginSingle(base: base); try encoder.writeFloat(value) }
    mutating func encode(_ value: Float) throws { try encoder.beginSingle(base: base); try encoder.writeFloat(value) }
    mutating func encode(_ value: Int) throws { try encoder.beginSingle(base: base); encoder.writeInteger(value) }
    mutating func encode(_ value: Int8) throws { try encoder.beginSingle(base: base); encoder.writeInteger(value) }
    mutating func encode(_ value: Int16) throws { try encoder.beginSingle(base: base); encoder.writeInteger(value) }
    mutating func encode(_ value: Int32) throws { try encoder.beginSingle(base: base); encoder.writeInteger(value) }
    mutating func encode(_ value: Int64) throws { try encoder.beginSingle(base: base); encoder.writeInteger(value) }
    mutating func encode(_ value: UInt) throws { try encoder.beginSingle(base: base); encoder.writeInteger(value) }
    mutating func encode(_ value: UInt8) throws { try encoder.beginSingle(base: base); encoder.writeInteger(value) }
    mutating func encode(_ value: UInt16) throws { try encoder.beginSingle(base: base); encoder.writeInteger(value) }
    mutating func encode(_ value: UInt32) throws { try encoder.beginSingle(base: base); encoder.writeInteger(value) }
    mutating func encode(_ value: UInt64) throws { try encoder.beginSingle(base: base); encoder.writeInteger(value) }
    mutating func encode<T: Encodable>(_ value: T) throws { try encoder.beginSingle(base: base); try encoder.write(value) }
}

/// What the nested containers and super encoders the direct encoder does not
/// support hand out: every write throws `OutOfOrder`, so the value is encoded
/// again by Foundation.
private struct Refused<Key: CodingKey>: KeyedEncodingContainerProtocol, UnkeyedEncodingContainer {
    var codingPath: [any CodingKey] { [] }
    var count: Int { 0 }
    mutating func encodeNil(forKey key: Key) throws { throw DirectJSONEncoder.OutOfOrder() }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { throw DirectJSONEncoder.OutOfOrder() }
    mutating func encodeNil() throws { throw DirectJSONEncoder.OutOfOrder() }
    mutating func encode<T: Encodable>(_ value: T) throws { throw DirectJSONEncoder.OutOfOrder() }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(Refused<NestedKey>())
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(Refused<NestedKey>())
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer { self }
    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { self }
    mutating func superEncoder() -> any Encoder { RefusedEncoder() }
    mutating func superEncoder(forKey key: Key) -> any Encoder { RefusedEncoder() }
}

private struct RefusedEncoder: Encoder, SingleValueEncodingContainer {
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> { KeyedEncodingContainer(Refused<Key>()) }
    func unkeyedContainer() -> any UnkeyedEncodingContainer { Refused<AnyCodingKey>() }
    func singleValueContainer() -> any SingleValueEncodingContainer { self }
    mutating func encodeNil() throws { throw DirectJSONEncoder.OutOfOrder() }
    mutating func encode<T: Encodable>(_ value: T) throws { throw DirectJSONEncoder.OutOfOrder() }
}

private struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        stringValue = String(intValue)
        self.intValue = intValue
    }
}
