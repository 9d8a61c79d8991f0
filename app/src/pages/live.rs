//! The operations page's live sections: the last hour's attempts minute by minute
//! (drawn on the server, the numbers beside), the queue now, the error-class mix, and
//! endpoints disabled or with an open circuit.

use leptos::prelude::*;
use leptos_router::components::A;
use sluice_core::live::LiveOperations;

use crate::charts::{fmt_pct, VolumeChart};

#[component]
pub fn LiveSections(live: LiveOperations) -> impl IntoView {
    let attempts = live.attempts();
    let success = live.success_rate().map_or_else(|| "no attempts".to_owned(), fmt_pct);
    let rate = format!("{:.0} a minute", live.rate_per_minute());
    let labels: Vec<String> = live.minutes.iter().map(|m| m.at.format("%H:%M").to_string()).collect();
    let succeeded: Vec<i64> = live.minutes.iter().map(|m| m.succeeded).collect();
    let failed: Vec<i64> = live.minutes.iter().map(|m| m.failed).collect();
    let q = live.queue;
    let oldest = if q.due == 0 { "nothing due".to_owned() } else { format!("{:.0} s", q.oldest_due_seconds) };
    let classes = if live.error_classes.is_empty() {
        view! { <p data-testid="error-classes">"No failed attempts in the last hour."</p> }.into_any()
    } else {
        let rows = live
            .error_classes
            .into_iter()
            .map(|c| view! { <tr><td>{c.error_class}</td><td>{c.attempts}</td></tr> })
            .collect_view();
        view! {
            <div class="table-wrap">
                <table data-testid="error-classes">
                    <caption class="sr-only">"Failed attempts in the last hour by error class"</caption>
                    <thead><tr><th scope="col">"Error class"</th><th scope="col">"Failed attempts"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        }
        .into_any()
    };
    let delivery = view! {
        <section aria-labelledby="live-delivery">
            <h2 id="live-delivery">"Delivery, last hour"</h2>
            <dl class="facts" data-testid="live-delivery">
                <dt>"Attempts"</dt>
                <dd data-testid="live-attempts">{attempts}</dd>
                <dt>"Succeeded"</dt>
                <dd data-testid="live-success">{success}</dd>
                <dt>"Rate, last five minutes"</dt>
                <dd>{rate}</dd>
            </dl>
            <VolumeChart
                title="Attempts per minute over the last hour, succeeded and failed".into()
                hours=labels
                succeeded=succeeded
                failed=failed
            />
        </section>
    }
    .into_any();
    let queue = view! {
        <section aria-labelledby="live-queue">
            <h2 id="live-queue">"Queue now"</h2>
            <dl class="facts" data-testid="live-queue">
                <dt>"Due"</dt>
                <dd data-testid="queue-due">{q.due}</dd>
                <dt>"Oldest due"</dt>
                <dd>{oldest}</dd>
                <dt>"Scheduled for a retry"</dt>
                <dd>{q.scheduled}</dd>
                <dt>"In flight"</dt>
                <dd>{q.in_flight}</dd>
                <dt>"Paused (disabled endpoints)"</dt>
                <dd>{q.paused}</dd>
            </dl>
        </section>
    }
    .into_any();
    let endpoints = view! {
        <section aria-labelledby="live-endpoints">
            <h2 id="live-endpoints">"Endpoints"</h2>
            <dl class="facts" data-testid="live-endpoints">
                <dt>"Enabled"</dt>
                <dd>{live.endpoints_enabled}</dd>
                <dt>"Disabled"</dt>
                <dd data-testid="endpoints-disabled">{live.endpoints_disabled}</dd>
                <dt>"Circuit open"</dt>
                <dd data-testid="circuits-open">{live.circuits_open}</dd>
            </dl>
            <p class="text-sm text-slate-600"><A href="/triage">"Every tenant, ranked by SLO burn"</A></p>
        </section>
    }
    .into_any();
    view! {
        {delivery}
        {queue}
        <section aria-labelledby="live-errors">
            <h2 id="live-errors">"Error classes, last hour"</h2>
            {classes}
        </section>
        {endpoints}
    }
}
