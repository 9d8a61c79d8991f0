//! One module per page, and the small pieces of markup they share.

pub mod deliveries;
pub mod message;
pub mod sign_in;
pub mod status;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
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
