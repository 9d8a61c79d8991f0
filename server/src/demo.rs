//! Demo mode (`SLUICE_DEMO=true`, `make demo`): a built-in webhook receiver with
//! healthy, slow, flaky and down routes, a few tenants on different tiers whose
//! endpoints point at it, their users, and a steady trickle of events, so a newcomer
//! sees live deliveries, retries and failures within a minute of starting.
//!
//! Everything is created through the same services the API uses; nothing here writes
//! to the database directly.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use rand::Rng;
use sluice_core::ids::TenantId;
use sluice_core::model::{CreateEndpoint, CreateTenant, CreateUser, PublishMessage, Role};
use sluice_engine::{Caller, Sluice};
use tokio::sync::watch;

/// The password of every demo user; printed at start. Demo data is for looking at.
pub const DEMO_PASSWORD: &str = "demo-password";

/// (tenant, tier, partner email, receiver behaviours of its endpoints)
const TENANTS: [(&str, &str, &str, &[&str]); 3] = [
    ("Acme Retail", "premium", "partner@acme.demo", &["fast", "slow"]),
    ("Globex Logistics", "standard", "partner@globex.demo", &["flaky"]),
    ("Initech Billing", "free", "partner@initech.demo", &["fast", "down"]),
];
const EVENT_TYPES: [&str; 4] = ["order.created", "order.paid", "invoice.sent", "user.signed_up"];

/// The built-in receiver: `/demo/receiver/{fast|slow|flaky|down}`.
pub fn receiver_router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/demo/receiver/{behaviour}", post(receive))
}

async fn receive(Path(behaviour): Path<String>) -> Response {
    match behaviour.as_str() {
        "fast" => StatusCode::NO_CONTENT.into_response(),
        "slow" => {
            let ms = rand::thread_rng().gen_range(400..2_500);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            StatusCode::NO_CONTENT.into_response()
        }
        "flaky" => {
            if rand::thread_rng().gen_bool(0.4) {
                (StatusCode::INTERNAL_SERVER_ERROR, "temporary failure in the demo receiver").into_response()
            } else {
                StatusCode::NO_CONTENT.into_response()
            }
        }
        "down" => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "30")],
            "the demo receiver is down for maintenance",
        )
            .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Creates the demo tenants, endpoints and users unless a demo tenant exists, and
/// returns the tenants to publish to.
pub async fn seed(sluice: &Sluice, base_url: &str) -> anyhow::Result<Vec<TenantId>> {
    let admin = Caller::Platform { actor: "demo".into() };
    let platform = admin.platform()?;
    let existing = sluice.list_tenants(&admin, Some(250), None).await?.data;
    let mut tenants = Vec::new();
    for (name, tier, email, behaviours) in TENANTS {
        if let Some(t) = existing.iter().find(|t| t.name == name) {
            tenants.push(t.id.clone());
            continue;
        }
        let tenant = sluice
            .create_tenant(&platform, CreateTenant { name: name.into(), tier: Some(tier.into()), ..Default::default() })
            .await?;
        for behaviour in behaviours {
            let req = CreateEndpoint {
                url: format!("{base_url}/demo/receiver/{behaviour}"),
                description: Some(format!("demo receiver: {behaviour}")),
                ..Default::default()
            };
            sluice.create_endpoint(&platform.tenant(&tenant.id)?, req).await?;
        }
        let partner = CreateUser {
            email: email.into(),
            password: DEMO_PASSWORD.into(),
            role: Role::Partner,
            tenant_id: Some(tenant.id.clone()),
        };
        sluice.create_user(&platform, partner).await?;
        tenants.push(tenant.id);
    }
    if !existing.iter().any(|t| TENANTS.iter().any(|(name, ..)| t.name == *name)) {
        let support = CreateUser {
            email: "support@sluice.demo".into(),
            password: DEMO_PASSWORD.into(),
            role: Role::Support,
            tenant_id: None,
        };
        sluice.create_user(&platform, support).await?;
    }
    Ok(tenants)
}

/// Publishes one event every `every` to a random demo tenant until `stop` flips.
pub async fn trickle(sluice: Arc<Sluice>, tenants: Vec<TenantId>, every: Duration, mut stop: watch::Receiver<bool>) {
    let admin = Caller::Platform { actor: "demo".into() };
    let Ok(platform) = admin.platform() else { return };
    let mut ticker = tokio::time::interval(every);
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let Some(tenant) = tenants.get(rand::thread_rng().gen_range(0..tenants.len().max(1))) else {
            return;
        };
        n += 1;
        let event_type = EVENT_TYPES[(n as usize) % EVENT_TYPES.len()];
        let payload = serde_json::json!({
            "id": format!("evt_demo_{n}"),
            "amount": rand::thread_rng().gen_range(100..100_000),
            "currency": "EUR",
        });
        let Ok(payload) = serde_json::value::to_raw_value(&payload) else {
            continue;
        };
        let req = PublishMessage { event_type: event_type.into(), payload };
        let published = match platform.tenant(tenant) {
            Ok(scope) => sluice.publish(&scope, req, None).await.map(drop),
            Err(e) => Err(e),
        };
        if let Err(e) = published {
            tracing::warn!(error = %e, "demo publish failed");
        }
    }
}
