extension Sequence where Element == UInt8 {
    /// Lowercase hexadecimal, two digits a byte: digests in manifests, token
    /// hashes. Written out by hand because `String(format: "%02x")` per byte
    /// cost as much CPU as the SHA-256 it printed (perf of an incremental
    /// backup: 641 digests, 4.1 % of samples against SHA-256's 4.7 %).
    public var lowercaseHex: String {
        let digits: StaticString = "0123456789abcdef"
        var text: [UInt8] = []
        text.reserveCapacity(underestimatedCount * 2)
        digits.withUTF8Buffer { digits in
            for byte in self {
                text.append(digits[Int(byte >> 4)])
                text.append(digits[Int(byte & 0x0f)])
            }
        }
        return String(decoding: text, as: UTF8.self)
    }
}
