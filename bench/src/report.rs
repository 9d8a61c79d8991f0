//! The benchmark's human-readable output: the main table per backend and one line
//! per scenario run (the JSON report carries the same numbers).

use crate::backlog::BacklogReport;
use crate::cluster::ClusterReport;
use crate::isolation::IsolationReport;
use crate::overview::OverviewReport;
use crate::scheduling::SchedulingReport;
use crate::Report;

pub fn print_table(reports: &[Report]) {
    type Cell = fn(&Report) -> String;
    let rows: Vec<(&str, Cell)> = vec![
        ("publish rate (msg/s, 64 clients)", |r| format!("{:.0}", r.publish_rate_per_s)),
        ("publish latency p50 / p99 (ms)", |r| {
            format!("{:.1} / {:.1}", r.publish_latency_p50_ms, r.publish_latency_p99_ms)
        }),
        ("drain burst (s, first publish → last arrival)", |r| format!("{:.2}", r.drain_seconds)),
        ("  of which after last publish (s)", |r| format!("{:.2}", r.drain_after_last_publish_seconds)),
        ("delivery rate (msg/s)", |r| format!("{:.0}", r.delivery_rate_per_s)),
        ("end-to-end p50 / p99 (ms, paced)", |r| format!("{:.1} / {:.1}", r.e2e_latency_p50_ms, r.e2e_latency_p99_ms)),
        ("peak RSS (MB)", |r| format!("{:.1}", r.peak_rss_mb)),
        ("sluice CPU (s)", |r| format!("{:.1}", r.sluice_cpu_seconds)),
        ("machine CPU busy in burst (%)", |r| format!("{:.0}", r.machine_cpu_busy_percent_during_burst)),
        ("delivered / missing / duplicates", |r| format!("{} / {} / {}", r.delivered, r.missing, r.duplicates)),
        ("incident detector, one look after the run (ms)", |r| {
            r.incident_detection_ms.map_or_else(|| "—".to_owned(), |ms| format!("{ms:.1}"))
        }),
    ];
    print!("\n{:<48}", "");
    for r in reports {
        print!("{:>20}", r.backend);
    }
    println!();
    for (label, cell) in &rows {
        print!("{label:<48}");
        for r in reports {
            print!("{:>20}", cell(r));
        }
        println!();
    }
    println!();
}

pub fn print_isolation(reports: &[IsolationReport]) {
    for r in reports {
        println!(
            "isolation ({}): {} tenants burst {} to hanging endpoints; the quiet tenant got {} of {} \
             at {}/s for {} s, end-to-end p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} hanging requests",
            r.backend,
            r.bursting_tenants,
            r.burst_messages,
            r.quiet_delivered,
            r.quiet_published,
            r.quiet_rate_per_s,
            r.seconds,
            r.quiet_e2e_p50_ms,
            r.quiet_e2e_p99_ms,
            r.quiet_e2e_max_ms,
            r.hanging_requests
        );
    }
}

pub fn print_scheduling(reports: &[SchedulingReport]) {
    for r in reports {
        println!(
            "scheduling ({}): {} endpoints ({} with due work), created in {:.0} s; idle: CPU {:.1} %, {} scans, \
             {:.3} ms each; busy ({} delivered in 10 s): CPU {:.1} %, {} scans, {:.3} ms each; RSS {:.0} MB",
            r.backend,
            r.endpoints,
            r.hot_endpoints,
            r.setup_seconds,
            r.idle_cpu_percent,
            r.idle_scans,
            r.idle_scan_ms,
            r.busy_delivered,
            r.busy_cpu_percent,
            r.busy_scans,
            r.busy_scan_ms,
            r.rss_mb
        );
    }
}

pub fn print_backlogs(reports: &[BacklogReport]) {
    for r in reports {
        println!(
            "backlog ({}): {} queued to a down endpoint in {:.0} s; peak RSS {:.0} MB (before it {:.0} MB); the \
             healthy tenant got {} of {}, end-to-end p50 / p99 {:.1} / {:.1} ms before, {:.1} / {:.1} ms beside it",
            r.backend,
            r.backlog,
            r.backlog_publish_seconds,
            r.peak_rss_mb,
            r.rss_before_backlog_mb,
            r.healthy_delivered,
            r.healthy_published,
            r.healthy_before_p50_ms,
            r.healthy_before_p99_ms,
            r.healthy_after_p50_ms,
            r.healthy_after_p99_ms
        );
    }
}

pub fn print_overviews(reports: &[OverviewReport]) {
    for r in reports {
        println!(
            "tenant overview ({}): {} deliveries over 29 days, counted by `sluice roll-up` in {:.1} s; the overview \
             p50 / p95 / max {:.1} / {:.1} / {:.1} ms",
            r.backend, r.deliveries, r.roll_up_seconds, r.overview_p50_ms, r.overview_p95_ms, r.overview_max_ms
        );
    }
}

pub fn print_cluster(c: &ClusterReport) {
    println!(
        "three nodes on postgres ({}): burst of {} published through {} in {:.2} s, drained in {:.2} s (one node just before: published in {:.2} s, drained in {:.2} s; {:.0} msg/s; delivered {} / missing {} / \
         duplicates {}, publish errors {}); an endpoint limited to {}/s got {} in {:.1} s, at most {} in any \
         second; peak RSS per node {:.0} MB; the burst cost {:.1} CPU s in the nodes and {:.1} in PostgreSQL \
         (one node: {:.1} and {:.1})",
        c.connections_per_node.map_or("default connections".to_owned(), |n| format!("{n} connections each")),
        c.burst_messages,
        c.published_through,
        c.publish_seconds,
        c.drain_seconds,
        c.one_node_publish_seconds,
        c.one_node_drain_seconds,
        c.delivery_rate_per_s,
        c.delivered,
        c.missing,
        c.duplicates,
        c.publish_errors,
        c.rate_limit_per_s,
        c.rate_limited_messages,
        c.rate_limited_seconds,
        c.busiest_second,
        c.peak_rss_mb_per_node,
        c.sluice_cpu_seconds,
        c.postgres_cpu_seconds,
        c.one_node_sluice_cpu_seconds,
        c.one_node_postgres_cpu_seconds
    );
}
