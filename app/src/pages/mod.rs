//! One module per page, and the small pieces of markup they share.

pub mod account;
pub mod activity;
pub mod admin;
pub mod audit;
pub mod canary;
pub mod deliveries;
pub mod endpoint_edit;
pub mod endpoints;
pub mod incidents;
pub mod keys;
pub mod live;
pub mod message;
pub mod overview;
pub mod portal;
pub mod recover;
pub mod sign_in;
pub mod status;
pub mod tenant_notices;
pub mod tenant_suspension;
pub mod tiers;
pub mod timeline;
pub mod triage;
pub mod user_actions;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_router::components::A;
use sluice_core::model::DeliveryStatus;

/// A status that carries its meaning in text, with colour only as a second cue.
pub fn status_badge(status: DeliveryStatus) -> impl IntoView {
    let class = match status {
        DeliveryStatus::Succeeded => "badge ok",
        DeliveryStatus::Failed => "badge bad",
        DeliveryStatus::Pending => "badge wait",
        DeliveryStatus::Cancelled => "badge off",
    };
    view! { <span class=class>{status.as_str()}</span> }
}

/// Times as people read them in a log: UTC, to the second.
pub fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// What a `datetime-local` input sends (`2026-11-23T12:00`, no zone) as RFC 3339,
/// read as UTC like every time the dashboard shows; anything else is passed through
/// for the service to accept or refuse with its own message.
#[cfg(feature = "ssr")]
pub fn form_time_as_rfc3339(value: &str) -> String {
    match chrono::NaiveDateTime::parse_from_str(value.trim(), "%Y-%m-%dT%H:%M") {
        Ok(local) => local.and_utc().to_rfc3339(),
        Err(_) => value.trim().to_owned(),
    }
}

/// Times where the second does not matter and the column should stay narrow.
pub fn when_minute(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

/// A counter that goes up every `seconds` in the browser (never on the server), for
/// pages that refresh while they are open: put it in a resource's source.
pub fn refresh_tick(seconds: u64) -> RwSignal<u64> {
    let tick = RwSignal::new(0u64);
    Effect::new(move |_| {
        if let Ok(handle) =
            set_interval_with_handle(move || tick.update(|t| *t += 1), std::time::Duration::from_secs(seconds))
        {
            on_cleanup(move || handle.clear());
        }
    });
    tick
}

/// The pages of one tenant.
#[component]
pub fn TenantNav(tenant: String) -> impl IntoView {
    let overview = format!("/tenants/{tenant}");
    let deliveries = format!("/tenants/{tenant}/deliveries");
    let endpoints = format!("/tenants/{tenant}/endpoints");
    let activity = format!("/tenants/{tenant}/activity");
    let incidents = format!("/tenants/{tenant}/incidents");
    view! {
        <nav aria-label="Tenant pages" class="tabs">
            <A href=overview exact=true>"Overview"</A>
            <A href=deliveries>"Deliveries"</A>
            <A href=endpoints>"Endpoints"</A>
            <A href=incidents>"Incidents"</A>
            <A href=activity>"Activity"</A>
        </nav>
    }
}

/// The hidden field carrying a form's idempotency key (see
/// [`submission_key`](crate::auth::submission_key)): it moves on each time the form's
/// action completes, so a double click sends one key and a deliberate repeat another.
#[component]
pub fn SubmissionKey(nonce: String, form: String, #[prop(into)] completed: Signal<usize>) -> impl IntoView {
    view! {
        // An attribute, not a property: it is in the server-rendered page (so a form
        // posted without JavaScript carries it too), and a hidden input submits its
        // attribute.
        <input
            type="hidden"
            name="idempotency_key"
            value=move || crate::auth::submission_key(&nonce, &form, completed.get())
        />
    }
}

/// Under an event-type field: what empty means, and Sluice's own notices, which an
/// endpoint gets only by naming them.
#[component]
pub fn EventTypesHint(id: &'static str) -> impl IntoView {
    let text = format!(
        "Empty takes every event you publish. Sluice's own notices ({}) go only to endpoints that name them.",
        sluice_core::validate::OPERATIONAL_EVENT_TYPES.join(", ")
    );
    view! { <p id=id class="text-sm text-slate-600">{text}</p> }
}
