/// LVM2's metadata text (lvm.conf syntax, as `vgcfgbackup` writes it):
/// `name = value` pairs and `name { … }` sections; values are strings,
/// integers or `[ … ]` lists. Read from a disk the guest controls, so the
/// parser is bounded (size, nesting, list length) and never traps.
enum LVMText {
    indirect enum Value: Equatable {
        case string(String)
        case number(Int64)
        case list([Value])
        case section([(key: String, value: Value)])

        static func == (a: Value, b: Value) -> Bool {
            switch (a, b) {
            case (.string(let x), .string(let y)): x == y
            case (.number(let x), .number(let y)): x == y
            case (.list(let x), .list(let y)): x == y
            case (.section(let x), .section(let y)): x.map(\.key) == y.map(\.key) && x.map(\.value) == y.map(\.value)
            default: false
            }
        }

        subscript(key: String) -> Value? {
            guard case .section(let pairs) = self else { return nil }
            return pairs.first { $0.key == key }?.value
        }

        var string: String? { if case .string(let text) = self { text } else { nil } }
        var number: Int64? { if case .number(let value) = self { value } else { nil } }
        var list: [Value]? { if case .list(let values) = self { values } else { nil } }
        var pairs: [(key: String, value: Value)] { if case .section(let pairs) = self { pairs } else { [] } }
    }

    struct ParseError: Error, CustomStringConvertible {
        let description: String
    }

    static let maxBytes = 16 << 20
    static let maxDepth = 32

    /// The top-level section of `text`.
    static func parse(_ text: [UInt8]) throws -> Value {
        guard text.count <= maxBytes else { throw ParseError(description: "metadata of \(text.count) bytes") }
        var parser = Parser(bytes: text)
        let pairs = try parser.pairs(depth: 0, closing: nil)
        return .section(pairs)
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func pairs(depth: Int, closing: UInt8?) throws -> [(key: String, value: Value)] {
            guard depth <= LVMText.maxDepth else { throw ParseError(description: "sections nested deeper than \(LVMText.maxDepth)") }
            var pairs: [(key: String, value: Value)] = []
            while true {
                skipSpace()
                guard index < bytes.count, bytes[index] != 0 else {
                    if closing == nil { return pairs }
                    throw ParseError(description: "a section is not closed")
                }
                if bytes[index] == closing {
                    index += 1
                    return pairs
                }
                let key = try identifier()
                skipSpace()
                guard index < bytes.count else { throw ParseError(description: "\(key) has no value") }
                switch bytes[index] {
                case UInt8(ascii: "{"):
                    index += 1
                    pairs.append((key, .section(try self.pairs(depth: depth + 1, closing: UInt8(ascii: "}")))))
                case UInt8(ascii: "="):
                    index += 1
                    pairs.append((key, try value(depth: depth + 1)))
                default:
                    throw ParseError(description: "expected = or { after \(key)")
                }
            }
        }

        mutating func value(depth: Int) throws -> Value {
            guard depth <= LVMText.maxDepth else { throw ParseError(description: "values nested too deep") }
            skipSpace()
            guard index < bytes.count else { throw ParseError(description: "a value is missing") }
            switch bytes[index] {
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "["):
                index += 1
                var values: [Value] = []
                while true {
                    skipSpace()
                    guard index < bytes.count else { throw ParseError(description: "a list is not closed") }
                    if bytes[index] == UInt8(ascii: "]") { index += 1; return .list(values) }
                    if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    values.append(try value(depth: depth + 1))
                    guard values.count <= 1 << 20 else { throw ParseError(description: "a list too long") }
                }
            default:
                return .number(try number())
            }
        }

        mutating func skipSpace() {
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"): index += 1
                case UInt8(ascii: "#"): while index < bytes.count && bytes[index] != UInt8(ascii: "\n") { index += 1 }
                default: return
                }
            }
        }

        mutating func identifier() throws -> String {
            let start = index
            while index < bytes.count, Self.isNameByte(bytes[index]) { index += 1 }
            guard index > start else { throw ParseError(description: "unexpected byte \(bytes[index]) at \(index)") }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }

        static func isNameByte(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "+"): true
            default: false
            }
        }

        mutating func string() throws -> String {
            index += 1
            var text: [UInt8] = []
            while index < bytes.count {
                let byte = bytes[index]
                index += 1
                switch byte {
                case UInt8(ascii: "\""): return String(decoding: text, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard index < bytes.count else { break }
                    text.append(bytes[index])
                    index += 1
                default: text.append(byte)
                }
            }
            throw ParseError(description: "a string is not closed")
        }

        mutating func number() throws -> Int64 {
            let start = index
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") { index += 1 }
            // Floats appear in some keys LVM never needs here (e.g. none in VG metadata): skip their fraction.
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") { index += 1 }
            }
            guard let value = Int64(String(decoding: bytes[start..<index].prefix { $0 != UInt8(ascii: ".") }, as: UTF8.self)) else {
                throw ParseError(description: "expected a value at byte \(start)")
            }
            return value
        }
    }
}
