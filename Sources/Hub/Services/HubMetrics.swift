import Prometheus

/// The hub's Prometheus registry. Each hub owns its own (no global metrics
/// system), so several hubs in one test process do not mix their counts.
public final class HubMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private static let buckets: [Duration] = [
        .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(10),
    ]

    private static var requests: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "sendense", metricName: "http_requests", unitName: "total",
        helpText: "HTTP requests answered, by method, route template and status") }
    private static var latency: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "sendense", metricName: "http_request_duration", unitName: "seconds",
        helpText: "Time to answer an HTTP request, by method and route template") }
    private static var jobs: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "sendense", metricName: "jobs", unitName: "",
        helpText: "Jobs in the catalog, by type and state") }

    public init() {}

    func recordRequest(method: String, route: String, status: Int, duration: Duration) {
        registry.makeCounter(
            descriptor: Self.requests,
            labels: [("method", method), ("route", route), ("status", String(status))]
        ).increment()
        registry.makeDurationHistogram(
            descriptor: Self.latency,
            labels: [("method", method), ("route", route)],
            buckets: Self.buckets
        ).recordNanoseconds(duration.nanoseconds)
    }

    /// Sets the job gauges from the catalog's counts, just before a scrape.
    func setJobCounts(_ counts: [String: Int], states: [String]) {
        for state in states {
            registry.makeGauge(descriptor: Self.jobs, labels: [("type", "backup"), ("state", state)])
                .set(Double(counts[state] ?? 0))
        }
    }
}

extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
