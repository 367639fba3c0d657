//! The service's Prometheus metrics: requests by route and status, latency, rows scored, and how
//! the request log keeps up (queue depth, records written, dropped and lost), and connections
//! closed because their request did not arrive in time.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// Latency buckets in seconds: fine below a millisecond, where a linear model answers.
const LATENCY_BUCKETS: &[f64] =
    &[0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// Every metric the service exports, registered in its own registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pub rows_scored: IntCounter,
    pub log_queue_depth: IntGauge,
    pub log_written: IntCounter,
    pub log_dropped: IntCounter,
    pub log_failed: IntCounter,
    /// Connections closed because the request's headers or body did not arrive in time, by phase.
    pub timed_out: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("mlops_http_requests_total", "HTTP requests by route and status."),
            &["route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("mlops_http_request_duration_seconds", "Time from request to response, by route.")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["route"],
        )?;
        let rows_scored = IntCounter::new("mlops_rows_scored_total", "Rows scored.")?;
        let log_queue_depth =
            IntGauge::new("mlops_request_log_queue_depth", "Request records waiting for the request-log writer.")?;
        let log_written =
            IntCounter::new("mlops_request_log_written_total", "Request records written to the request-log sink.")?;
        let log_dropped = IntCounter::new(
            "mlops_request_log_dropped_total",
            "Request records dropped because the request-log queue was full.",
        )?;
        let log_failed = IntCounter::new(
            "mlops_request_log_failed_total",
            "Request records lost because the sink refused them after retries.",
        )?;
        let timed_out = IntCounterVec::new(
            Opts::new(
                "mlops_requests_timed_out_total",
                "Connections closed because a request's headers or body did not arrive within --request-timeout.",
            ),
            &["phase"],
        )?;
        for phase in ["headers", "body"] {
            timed_out.with_label_values(&[phase]);
        }
        registry.register(Box::new(timed_out.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(rows_scored.clone()))?;
        registry.register(Box::new(log_queue_depth.clone()))?;
        registry.register(Box::new(log_written.clone()))?;
        registry.register(Box::new(log_dropped.clone()))?;
        registry.register(Box::new(log_failed.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            latency,
            rows_scored,
            log_queue_depth,
            log_written,
            log_dropped,
            log_failed,
            timed_out,
        })
    }

    /// Counts one finished request.
    pub fn observe(&self, route: &str, status: u16, seconds: f64) {
        let mut buf = [0u8; 3];
        let status = status_label(status, &mut buf);
        self.requests.with_label_values(&[route, status]).inc();
        self.latency_for(route).observe(seconds);
    }

    fn latency_for(&self, route: &str) -> Histogram {
        self.latency.with_label_values(&[route])
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

fn status_label(status: u16, buf: &mut [u8; 3]) -> &str {
    let status = status.min(999);
    buf[0] = b'0' + (status / 100) as u8;
    buf[1] = b'0' + (status / 10 % 10) as u8;
    buf[2] = b'0' + (status % 10) as u8;
    std::str::from_utf8(buf).unwrap_or("000")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts() {
        let metrics = Metrics::new().expect("metrics");
        metrics.observe("/score", 200, 0.000_3);
        metrics.observe("/score", 400, 0.000_1);
        metrics.observe("/score", 200, 0.000_2);
        metrics.rows_scored.inc_by(5);
        let text = metrics.render();
        assert!(text.contains("mlops_http_requests_total{route=\"/score\",status=\"200\"} 2"), "{text}");
        assert!(text.contains("mlops_http_requests_total{route=\"/score\",status=\"400\"} 1"), "{text}");
        assert!(text.contains("mlops_http_request_duration_seconds_count{route=\"/score\"} 3"), "{text}");
        assert!(text.contains("mlops_rows_scored_total 5"), "{text}");
    }
}
