import Gateway

/// The Prometheus text exposition format (version 0.0.4) for berth's pools, written by
/// hand: a few counters, gauges and one histogram per app need no metrics library, and the
/// numbers already live in each pool (on its event loop, lock-free) — a scrape copies them.
enum PrometheusText {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    static func render(_ pools: [PoolStatus]) -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        func sample(_ name: String, _ labels: [(String, String)], _ value: Double) {
            let text = labels.isEmpty ? "" : "{" + labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",") + "}"
            out += "\(name)\(text) \(format(value))\n"
        }
        family("berth_requests_total", "counter", "App requests answered, by app and status code.")
        for pool in pools {
            for (status, count) in pool.responses.sorted(by: { $0.key < $1.key }) {
                sample("berth_requests_total", [("app", pool.app), ("status", status)], Double(count))
            }
        }
        family("berth_request_duration_seconds", "histogram", "Time from a request reaching the gateway to its last response byte.")
        for pool in pools {
            var cumulative = 0
            for (index, bound) in pool.latency.bounds.enumerated() {
                cumulative += pool.latency.counts[index]
                sample("berth_request_duration_seconds_bucket", [("app", pool.app), ("le", format(bound))], Double(cumulative))
            }
            cumulative += pool.latency.counts.last ?? 0
            sample("berth_request_duration_seconds_bucket", [("app", pool.app), ("le", "+Inf")], Double(cumulative))
            sample("berth_request_duration_seconds_sum", [("app", pool.app)], pool.latency.sum)
            sample("berth_request_duration_seconds_count", [("app", pool.app)], Double(cumulative))
        }
        family("berth_queue_depth", "gauge", "Requests waiting for a free worker.")
        for pool in pools { sample("berth_queue_depth", [("app", pool.app)], Double(pool.queueDepth)) }
        family("berth_queue_rejected_total", "counter", "Requests answered 503 because the queue was full or their wait ran out.")
        for pool in pools { sample("berth_queue_rejected_total", [("app", pool.app)], Double(pool.rejected)) }
        family("berth_workers", "gauge", "Worker processes, by state.")
        for pool in pools {
            for state in ["booting", "idle", "busy", "stopping"] {
                sample("berth_workers", [("app", pool.app), ("state", state)], Double(pool.workers.filter { $0.state == state }.count))
            }
        }
        family("berth_pool_workers", "gauge", "Workers of the serving generation that serve or are starting (not retiring).")
        for pool in pools { sample("berth_pool_workers", [("app", pool.app)], Double(pool.workersServing)) }
        family("berth_pool_workers_wanted", "gauge", "Workers the pool wants now, between its min and max.")
        for pool in pools { sample("berth_pool_workers_wanted", [("app", pool.app)], Double(pool.workersWanted)) }
        family("berth_pool_workers_min", "gauge", "The pool's min_workers.")
        for pool in pools { sample("berth_pool_workers_min", [("app", pool.app)], Double(pool.minWorkers)) }
        family("berth_pool_workers_max", "gauge", "The pool's max_workers.")
        for pool in pools { sample("berth_pool_workers_max", [("app", pool.app)], Double(pool.maxWorkers)) }
        family("berth_worker_restarts_total", "counter", "Workers replaced, by reason.")
        for pool in pools {
            for reason in RestartReason.allCases {
                sample("berth_worker_restarts_total", [("app", pool.app), ("reason", reason.rawValue)], Double(pool.restarts[reason.rawValue] ?? 0))
            }
        }
        return out
    }

    /// Label values escape backslash, double quote and newline.
    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    static func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
        return String(value)
    }
}
