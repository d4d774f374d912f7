/// An optional field a response writes as `null` when it has no value
/// (API.md shows them so: `"completed_at": null`), where synthesized
/// `Encodable` would leave the key out. Dates still go through the
/// encoder's date strategy.
@propertyWrapper
struct Nullable<Value: Encodable & Sendable>: Encodable, Sendable {
    var wrappedValue: Value?

    init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}
