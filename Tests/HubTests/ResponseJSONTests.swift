import Foundation
import SendenseAPI
import SendenseCore
import Testing

/// `APIJSON.encode` (the direct encoder every response goes through) must say
/// what Foundation's encoder says: the same JSON value, keys aside from order.
@Suite("Response JSON")
struct ResponseJSONTests {
    /// Both encoders' output, parsed back; equal as values.
    private func expectSame<T: Encodable>(_ value: T, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let direct = try APIJSON.encode(value)
        let foundation = try APIJSON.encoder.encode(value)
        let parsedDirect = try JSONSerialization.jsonObject(with: Data(direct), options: [.fragmentsAllowed]) as? NSObject
        let parsedFoundation = try JSONSerialization.jsonObject(with: foundation, options: [.fragmentsAllowed]) as? NSObject
        #expect(parsedDirect == parsedFoundation, "direct: \(String(decoding: direct, as: UTF8.self))\nfoundation: \(String(decoding: foundation, as: UTF8.self))",
                sourceLocation: sourceLocation)
    }

    @Test("API responses encode as Foundation encodes them: nulls, dates, nested lists, dictionaries")
    func responses() throws {
        let date = Date(timeIntervalSince1970: 1_760_000_000)
        let vm = VMContextResponse(
            contextId: "ctx-1", vmName: "web \"01\"", sourceType: .qemuImage, vmPath: nil, vcenterHost: nil, datacenter: nil,
            currentStatus: "idle", cpuCount: 4, memoryMb: nil, osType: nil, powerState: "on", credentialId: 7, lastBackupAt: nil, createdAt: date)
        try expectSame(vm)
        try expectSame(VMContextListResponse(vmContexts: [vm, vm], count: 2, totalCount: 1_000))
        try expectSame(PruneResult(vmName: "db", kept: ["b-2"], removed: [], merged: ["b-2": ["b-1", "b-0"]], immutableUntil: [:], skipped: nil))
        try expectSame(ErrorResponse(error: "bad\u{1}\n\t\u{8}\u{c}\r\\/é\u{2028}😀"))
        try expectSame([[1.5, 50.0, -0.0, 1e20, 1e-7, 0.1, 123_456_789.123]])
        try expectSame(["a": [String?.none, "x"], "k\"e\\y\n\u{1f}": ["q\"\"", "tail\\"]])
        try expectSame([UInt64.max, 0])
        try expectSame(Int64.min)
        try expectSame(URL(string: "http://hub/x?y=1")!)
        try expectSame(Data([0, 1, 2, 255]))
        try expectSame([Bool]())
    }

    private struct Empty: Encodable {
        func encode(to encoder: any Encoder) throws {}
    }

    private struct Nested: Encodable {
        enum Keys: String, CodingKey { case outer, inner, after }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            var inner = container.nestedContainer(keyedBy: Keys.self, forKey: .outer)
            try container.encode(1, forKey: .after)
            try inner.encode("late", forKey: .inner)
        }
    }

    private struct TwoContainers: Encodable {
        enum Keys: String, CodingKey { case a, b }
        func encode(to encoder: any Encoder) throws {
            var first = encoder.container(keyedBy: Keys.self)
            try first.encode(1, forKey: .a)
            var second = encoder.container(keyedBy: Keys.self)
            try second.encode([2], forKey: .b)
        }
    }

    @Test("a value that writes nothing, asks for its container twice, or fills a nested container late comes out as Foundation writes it")
    func unusualEncodables() throws {
        try expectSame([Empty()])
        try expectSame(Nested())  // out of order: the direct encoder hands it to Foundation
        try expectSame(["x": Nested()])
        try expectSame(TwoContainers())
    }

    @Test("NaN and infinity are refused, as by Foundation")
    func nonFinite() {
        #expect(throws: EncodingError.self) { try APIJSON.encode([Double.nan]) }
        #expect(throws: EncodingError.self) { try APIJSON.encode(["x": Double.infinity]) }
    }
}
