import Foundation
import SendenseCore
import Testing

@Suite struct TelemetryRollupTests {
    static func sample(_ seconds: Double, _ bytes: Int64, _ speed: Int64, phase: String = "transferring") -> TelemetrySample {
        TelemetrySample(timestamp: Date(timeIntervalSince1970: 1_700_000_000 + seconds), bytesTransferred: bytes, speedBps: speed,
                        progressPercent: Double(bytes) / 10, phase: phase)
    }

    @Test func speedsAndDuration() {
        let rollup = TelemetryRollup(samples: [
            Self.sample(20, 600, 30), Self.sample(0, 0, 0, phase: "snapshot"), Self.sample(10, 300, 30),
            Self.sample(30, 1000, 40), Self.sample(40, 1000, 0, phase: "committing"),
        ])
        #expect(rollup.durationSeconds == 40)
        #expect(rollup.peakSpeedBps == 40 && rollup.minSpeedBps == 30)
        #expect(rollup.avgSpeedBps == 25)
        #expect(rollup.totalBytes == 1000)
        #expect(rollup.chartData.map(\.t) == [0, 10, 20, 30, 40])
        #expect(rollup.chartData.first?.phase == "snapshot")
    }

    @Test func atMost200PointsKeepingBothEnds() {
        let samples = (0..<1000).map { Self.sample(Double($0), Int64($0) * 10, 10) }
        let rollup = TelemetryRollup(samples: samples)
        #expect(rollup.chartData.count == 200)
        #expect(rollup.chartData.first?.t == 0 && rollup.chartData.last?.t == 999)
        #expect(zip(rollup.chartData, rollup.chartData.dropFirst()).allSatisfy { $0.t < $1.t })
    }

    @Test func empty() {
        #expect(TelemetryRollup(samples: []).chartData.isEmpty)
    }

    @Test func jsonFieldsAsTheAPISaysThem() throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let json = String(decoding: try encoder.encode(TelemetryRollup(samples: [Self.sample(0, 0, 0), Self.sample(1, 5, 5)])), as: UTF8.self)
        for key in ["duration_seconds", "peak_speed_bps", "avg_speed_bps", "min_speed_bps", "total_bytes", "chart_data", "bytes_transferred", "speed_bps", "progress_percent", "\"t\""] {
            #expect(json.contains(key), "\(key) in \(json)")
        }
    }
}
