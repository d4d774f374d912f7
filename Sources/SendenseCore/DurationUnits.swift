/// A `Duration` in the units the hub reports (logs, API fields, metrics),
/// written once: `Duration` itself gives only whole seconds and attoseconds.
extension Duration {
    /// Seconds with their fraction.
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }

    /// Whole milliseconds, rounded down.
    public var inMilliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
