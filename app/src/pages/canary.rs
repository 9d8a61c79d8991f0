//! The canary on the operations page: its state in a word, the last hour summed up
//! (arrived, failed, on their way, median and 99th percentile latency) and the
//! latest runs of every node.

use leptos::prelude::*;
use sluice_core::canary::{CanaryHealth, CanaryOutcome, CanaryStatus};

fn badge(outcome: CanaryOutcome) -> &'static str {
    match outcome {
        CanaryOutcome::Delivered => "badge ok",
        CanaryOutcome::Failed => "badge bad",
        CanaryOutcome::Waiting => "badge wait",
    }
}

fn ms(v: Option<i64>) -> String {
    v.map_or_else(|| "–".to_owned(), |ms| format!("{ms} ms"))
}

#[component]
pub fn CanaryCard(status: CanaryStatus) -> impl IntoView {
    let health_class = match status.health {
        CanaryHealth::Healthy => "badge ok",
        CanaryHealth::Failing => "badge bad",
        CanaryHealth::Unknown => "badge off",
    };
    let every = if status.interval_seconds == 0 {
        "This node sends no canary (SLUICE_CANARY_INTERVAL_SECONDS=0); other nodes' runs show here.".to_owned()
    } else {
        format!(
            "Every {} s this node publishes a message to its own receiver through the whole delivery path.",
            status.interval_seconds
        )
    };
    let rows = status
        .recent
        .into_iter()
        .map(|r| {
            view! {
                <tr data-testid="canary-run">
                    <td>{crate::pages::when(&r.published_at)}</td>
                    <td>{r.node_id}</td>
                    <td><span class=badge(r.outcome)>{r.outcome.as_str()}</span></td>
                    <td>{ms(r.latency_ms)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <h2>"Canary"</h2>
        <p class="text-sm text-slate-600">{every}</p>
        <dl class="facts" data-testid="canary">
            <dt>"State"</dt>
            <dd><span class=health_class data-testid="canary-health">{status.health.as_str()}</span></dd>
            <dt>"Last hour"</dt>
            <dd data-testid="canary-hour">
                {format!("{} delivered, {} failed, {} on their way", status.delivered, status.failed, status.waiting)}
            </dd>
            <dt>"Latency, median / p99"</dt>
            <dd data-testid="canary-latency">{format!("{} / {}", ms(status.latency_p50_ms), ms(status.latency_p99_ms))}</dd>
        </dl>
        <div class="table-wrap">
            <table>
                <caption class="sr-only">"The latest canary runs"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Published"</th>
                        <th scope="col">"By node"</th>
                        <th scope="col">"Outcome"</th>
                        <th scope="col">"Latency"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}
