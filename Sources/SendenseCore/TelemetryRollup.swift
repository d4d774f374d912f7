import Foundation

/// One telemetry sample of a running job.
public struct TelemetrySample: Sendable, Equatable, Codable {
    public var timestamp: Date
    public var bytesTransferred: Int64
    /// Bytes per second since the previous sample.
    public var speedBps: Int64
    public var progressPercent: Double
    public var phase: String

    public init(timestamp: Date, bytesTransferred: Int64, speedBps: Int64, progressPercent: Double, phase: String) {
        self.timestamp = timestamp
        self.bytesTransferred = bytesTransferred
        self.speedBps = speedBps
        self.progressPercent = progressPercent
        self.phase = phase
    }
}

/// What a finished job keeps of its samples: speeds, duration and a chart of
/// at most `maxPoints` points (the samples are deleted). Pure.
public struct TelemetryRollup: Sendable, Equatable, Codable {
    public struct Point: Sendable, Equatable, Codable {
        /// Seconds since the first sample.
        public var t: Double
        public var timestamp: Date
        public var bytesTransferred: Int64
        public var speedBps: Int64
        public var progressPercent: Double
        public var phase: String

        enum CodingKeys: String, CodingKey {
            case t, timestamp, phase
            case bytesTransferred = "bytes_transferred", speedBps = "speed_bps", progressPercent = "progress_percent"
        }
    }

    public var durationSeconds: Double
    public var peakSpeedBps: Int64
    public var avgSpeedBps: Int64
    public var minSpeedBps: Int64
    public var totalBytes: Int64
    public var chartData: [Point]

    enum CodingKeys: String, CodingKey {
        case durationSeconds = "duration_seconds", peakSpeedBps = "peak_speed_bps", avgSpeedBps = "avg_speed_bps"
        case minSpeedBps = "min_speed_bps", totalBytes = "total_bytes", chartData = "chart_data"
    }

    public static let maxPoints = 200

    /// Speeds are those of the transfer: samples taken while bytes moved
    /// (the first sample, and pauses in snapshot or commit phases, do not
    /// drag the minimum to zero). The average is bytes over the whole
    /// duration. The chart keeps the first and last sample and evenly spaced
    /// ones between.
    public init(samples unsorted: [TelemetrySample], maxPoints: Int = TelemetryRollup.maxPoints) {
        let samples = unsorted.sorted { $0.timestamp < $1.timestamp }
        guard let first = samples.first, let last = samples.last else {
            self.init(durationSeconds: 0, peakSpeedBps: 0, avgSpeedBps: 0, minSpeedBps: 0, totalBytes: 0, chartData: [])
            return
        }
        let duration = last.timestamp.timeIntervalSince(first.timestamp)
        let moving = samples.dropFirst().map(\.speedBps).filter { $0 > 0 }
        let total = last.bytesTransferred
        let points = Self.downsample(samples, to: max(2, maxPoints)).map {
            Point(t: $0.timestamp.timeIntervalSince(first.timestamp), timestamp: $0.timestamp, bytesTransferred: $0.bytesTransferred,
                  speedBps: $0.speedBps, progressPercent: $0.progressPercent, phase: $0.phase)
        }
        self.init(durationSeconds: duration, peakSpeedBps: moving.max() ?? 0,
                  avgSpeedBps: duration > 0 ? Int64(Double(total - first.bytesTransferred) / duration) : 0,
                  minSpeedBps: moving.min() ?? 0, totalBytes: total, chartData: points)
    }

    public init(durationSeconds: Double, peakSpeedBps: Int64, avgSpeedBps: Int64, minSpeedBps: Int64, totalBytes: Int64, chartData: [Point]) {
        self.durationSeconds = durationSeconds
        self.peakSpeedBps = peakSpeedBps
        self.avgSpeedBps = avgSpeedBps
        self.minSpeedBps = minSpeedBps
        self.totalBytes = totalBytes
        self.chartData = chartData
    }

    static func downsample(_ samples: [TelemetrySample], to count: Int) -> [TelemetrySample] {
        guard samples.count > count else { return samples }
        let step = Double(samples.count - 1) / Double(count - 1)
        return (0..<count).map { samples[Int((Double($0) * step).rounded())] }
    }
}
