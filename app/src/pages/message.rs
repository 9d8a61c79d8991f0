//! One message: its payload, each endpoint's delivery with every attempt (request
//! headers, response status, headers and body, latency, error class), replay, and its
//! timeline (`timeline.rs`).

use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};
use sluice_core::model::{Attempt, Delivery};

use crate::auth::{error_text, PageViewer};
use crate::pages::{status_badge, when};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryDetail {
    pub delivery: Delivery,
    pub endpoint_url: String,
    /// Oldest first, the order they happened in.
    pub attempts: Vec<Attempt>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageDetail {
    pub id: String,
    pub tenant_id: String,
    pub event_type: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub idempotency_key: Option<String>,
    pub payload_pretty: String,
    pub deliveries: Vec<DeliveryDetail>,
}

/// A message with its replays, for the page and its timeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessagePageData {
    pub message: MessageDetail,
    pub moments: Vec<super::timeline::Moment>,
}

#[server(endpoint = "load_message")]
pub async fn load_message(tenant: String, message: String) -> Result<MessagePageData, AppError> {
    use crate::auth::ssr::parse_id;
    use sluice_engine::service::EventQuery;
    let (ctx, _, caller) = crate::auth::ssr::reading().await?;
    let tenant = caller.tenant(&parse_id(&tenant)?)?;
    let message = parse_id(&message)?;
    let m = ctx.sluice.get_message(&tenant, &message).await?;
    let payload_pretty = serde_json::from_str::<serde_json::Value>(m.payload.get())
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| m.payload.get().to_owned());
    let details = ctx
        .sluice
        .message_deliveries(&tenant, &message)
        .await?
        .into_iter()
        .map(|d| DeliveryDetail {
            endpoint_url: d.endpoint_url.unwrap_or_else(|| format!("{} (deleted)", d.delivery.endpoint_id)),
            delivery: d.delivery,
            attempts: d.attempts,
        })
        .collect();
    let detail = MessageDetail {
        id: m.id.to_string(),
        tenant_id: m.tenant_id.to_string(),
        event_type: m.event_type,
        created_at: m.created_at,
        idempotency_key: m.idempotency_key,
        payload_pretty,
        deliveries: details,
    };
    let query = EventQuery {
        kind: Some("replay.requested".into()),
        subject_id: Some(message.to_string()),
        ..EventQuery::default()
    };
    let replays = ctx.sluice.list_events(sluice_engine::Reach::Tenant(&tenant), query, Some(250), None).await?;
    // The recovers that last queued its deliveries again, one read each (a message
    // has a delivery per endpoint, and few were ever recovered).
    let mut recovers: Vec<sluice_core::model::Operation> = Vec::new();
    for op in detail.deliveries.iter().filter_map(|d| d.delivery.operation_id.as_ref()) {
        if !recovers.iter().any(|r| &r.id == op) {
            recovers.push(ctx.sluice.get_operation(&caller, op).await?);
        }
    }
    let moments = super::timeline::moments(&detail, &replays.data, &recovers);
    Ok(MessagePageData { message: detail, moments })
}

/// Queues the message again, to every endpoint or to one. Support may do this on a
/// partner's behalf; the CSRF token proves the form came from this dashboard.
#[server(endpoint = "replay")]
pub async fn replay(
    tenant: String,
    message: String,
    endpoint_id: Option<String>,
    csrf: String,
    idempotency_key: Option<String>,
) -> Result<usize, AppError> {
    use crate::auth::ssr::{fingerprint, once, parse_id};
    use sluice_core::model::ReplayMessage;
    let (ctx, _, caller) = crate::auth::ssr::changing(&csrf).await?;
    let (scope, message_id) = (caller.tenant_act(&parse_id(&tenant)?)?, parse_id(&message)?);
    let request = fingerprint(&(&tenant, &message, &endpoint_id))?;
    let replay =
        ReplayMessage { endpoint_id: endpoint_id.filter(|e| !e.is_empty()).map(|e| parse_id(&e)).transpose()? };
    let act = async move { Ok(ctx.sluice.replay_message(&scope, &message_id, replay).await?.deliveries.len()) };
    once(&caller, "replay", idempotency_key.as_deref(), request, act).await
}

#[component]
pub fn MessagePage() -> impl IntoView {
    let params = use_params_map();
    let tenant = move || params.read().get("tenant").unwrap_or_default();
    let message = move || params.read().get("message").unwrap_or_default();
    let replay = ServerAction::<Replay>::new();
    let viewer = Resource::new(|| (), |_| crate::auth::current_viewer());
    // Refresh while open, so a replayed attempt shows up when it lands.
    let tick = crate::pages::refresh_tick(2);
    let detail = Resource::new(
        move || (tenant(), message(), replay.version().get(), tick.get()),
        |(t, m, _, _)| load_message(t, m),
    );
    let replay_result = move || {
        replay.value().get().map(|r| match r {
            Ok(n) => view! { <p role="status">{format!("Replay queued: {n} deliveries.")}</p> }.into_any(),
            Err(e) => view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> }.into_any(),
        })
    };
    view! {
        <Title text="Message · Sluice"/>
        <Suspense fallback=|| view! { <p>"Loading message…"</p> }>
            {move || {
                let v = PageViewer::of(viewer.get());
                // A read-only session is offered no replay it would be refused.
                let can_replay = !v.read_only();
                let nonce = v.nonce();
                let csrf = v.csrf();
                detail
                    .get()
                    .map(|r| match r {
                        Ok(MessagePageData { message: m, moments }) => {
                            view! {
                                <MessageView m csrf nonce can_replay replay/>
                                <super::timeline::Timeline moments/>
                            }
                                .into_any()
                        }
                        Err(e) => view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> }.into_any(),
                    })
            }}
        </Suspense>
        {replay_result}
    }
}

#[component]
fn MessageView(
    m: MessageDetail,
    csrf: String,
    nonce: String,
    can_replay: bool,
    replay: ServerAction<Replay>,
) -> impl IntoView {
    let back = format!("/tenants/{}/deliveries", m.tenant_id);
    let replay_all = can_replay.then(|| {
        let (tenant, message, csrf, nonce) = (m.tenant_id.clone(), m.id.clone(), csrf.clone(), nonce.clone());
        view! {
            <ActionForm action=replay>
                <input type="hidden" name="tenant" value=tenant/>
                <input type="hidden" name="message" value=message/>
                <input type="hidden" name="csrf" value=csrf/>
                <crate::pages::SubmissionKey nonce form="replay".into() completed=replay.version()/>
                <button type="submit" disabled=move || replay.pending().get()>"Replay to all endpoints"</button>
            </ActionForm>
        }
    });
    view! {
        <p><A href=back>"← Deliveries"</A></p>
        <h1>"Message " <code>{m.id.clone()}</code></h1>
        <dl class="facts">
            <dt>"Event type"</dt>
            <dd>{m.event_type.clone()}</dd>
            <dt>"Created"</dt>
            <dd>{when(&m.created_at)}</dd>
            <dt>"Idempotency key"</dt>
            <dd>{m.idempotency_key.clone().unwrap_or_else(|| "—".into())}</dd>
        </dl>
        <section class="card" aria-labelledby="payload-heading">
            <h2 id="payload-heading">"Payload"</h2>
            <pre class="code">{m.payload_pretty.clone()}</pre>
        </section>
        {replay_all}
        {m.deliveries
            .into_iter()
            .map(|d| {
                let heading_id = format!("delivery-{}", d.delivery.id);
                let labelled_by = heading_id.clone();
                let (tenant, message, endpoint, csrf, nonce) =
                    (m.tenant_id.clone(), m.id.clone(), d.delivery.endpoint_id.to_string(), csrf.clone(), nonce.clone());
                // Each endpoint's form is a form of its own: its key names the endpoint.
                let form = format!("replay.{endpoint}");
                let replay_one = can_replay.then(|| {
                    view! {
                        <ActionForm action=replay>
                            <input type="hidden" name="tenant" value=tenant/>
                            <input type="hidden" name="message" value=message/>
                            <input type="hidden" name="endpoint_id" value=endpoint/>
                            <input type="hidden" name="csrf" value=csrf/>
                            <crate::pages::SubmissionKey nonce form completed=replay.version()/>
                            <button type="submit" class="secondary" disabled=move || replay.pending().get()>
                                "Replay to this endpoint"
                            </button>
                        </ActionForm>
                    }
                });
                view! {
                    <section class="card" aria-labelledby=labelled_by data-testid="delivery">
                        <h2 id=heading_id>{d.endpoint_url.clone()} " " {status_badge(d.delivery.status)}</h2>
                        {replay_one}
                        <ol class="list-decimal pl-5">
                            {d.attempts.into_iter().map(|a| view! { <AttemptView a/> }).collect_view()}
                        </ol>
                    </section>
                }
            })
            .collect_view()}
    }
}

#[component]
fn AttemptView(a: Attempt) -> impl IntoView {
    let outcome = match (a.response_status, a.error_class) {
        (Some(s), _) => format!("HTTP {s}"),
        (None, Some(c)) => c.as_str().replace('_', " "),
        (None, None) => "no answer".into(),
    };
    let headers = |h: &serde_json::Map<String, serde_json::Value>| {
        h.iter().map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or(&v.to_string()))).collect::<Vec<_>>().join("\n")
    };
    let request_headers = headers(&a.request_headers);
    let response_headers = a.response_headers.as_ref().map(headers);
    view! {
        <li class="mb-3" data-testid="attempt">
            <p>
                <strong>{format!("Attempt {}", a.number)}</strong>
                {format!(" · {} · {} · {} ms · ", when(&a.started_at), a.trigger.as_str(), a.duration_ms)}
                <span data-testid="attempt-outcome">{outcome}</span>
            </p>
            {a.error_message.clone().map(|e| view! { <p class="text-red-700">{e}</p> })}
            {a.retry_after_seconds.map(|s| view! {
                <p data-testid="retry-after">
                    {format!("The receiver asked to wait {s} s (Retry-After); the next attempt waits at least that long.")}
                </p>
            })}
            <details>
                <summary>"Request headers"</summary>
                <pre class="code">{request_headers}</pre>
            </details>
            {response_headers.map(|h| view! {
                <details>
                    <summary>"Response headers"</summary>
                    <pre class="code">{h}</pre>
                </details>
            })}
            {a.response_body.clone().filter(|b| !b.is_empty()).map(|b| view! {
                <details>
                    <summary>"Response body"</summary>
                    <pre class="code">{b}</pre>
                </details>
            })}
        </li>
    }
}
