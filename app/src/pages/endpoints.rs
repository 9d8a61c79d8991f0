//! A tenant's endpoints: health at a glance, create, enable and disable, and a notice
//! for those disabled with the one click that enables one and brings back what failed
//! (one endpoint's own page is `endpoint_edit.rs`).

use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};
use sluice_core::model::{Endpoint, EndpointStatus, FailingStreak};

use crate::auth::{error_text, PageViewer};

/// An endpoint with how its recent deliveries went.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EndpointHealth {
    pub endpoint: Endpoint,
    /// Among its deliveries of the last 24 hours.
    pub succeeded: i64,
    pub failed: i64,
    pub last_error: Option<String>,
    /// This node's circuit breaker, when open: (consecutive failures, next probe).
    /// The failures in a row this node saw (`None`: another node opened it) and the
    /// next probe.
    pub circuit_open: Option<(Option<u32>, chrono::DateTime<chrono::Utc>)>,
    /// Every attempt has failed since then: it is disabled if that goes on.
    pub failing: Option<FailingStreak>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EndpointsView {
    pub tenant_name: String,
    pub endpoints: Vec<EndpointHealth>,
}

/// "a, b , c" → ["a", "b", "c"]; empty means every event type.
#[cfg(feature = "ssr")]
pub(super) fn split_types(raw: &str) -> Vec<String> {
    raw.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect()
}

/// A labels field as people type it (`kind=erp, region=eu`) as the API takes it. A
/// piece without `=` becomes a label with no value, which the service refuses by name.
#[cfg_attr(not(feature = "ssr"), allow(dead_code))]
pub(super) fn split_labels(raw: &str) -> std::collections::BTreeMap<String, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.trim().to_owned(), v.trim().to_owned()),
            None => (l.to_owned(), String::new()),
        })
        .collect()
}

/// Labels as the form shows them: `kind=erp, region=eu`.
pub(super) fn join_labels(labels: &std::collections::BTreeMap<String, String>) -> String {
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
}

#[server(endpoint = "load_endpoints")]
pub async fn load_endpoints(tenant: String) -> Result<EndpointsView, AppError> {
    use crate::auth::ssr::parse_id;
    let (ctx, _, caller) = crate::auth::ssr::reading().await?;
    let tenant = parse_id(&tenant)?;
    let scope = caller.tenant(&tenant)?;
    let t = ctx.sluice.get_tenant(&scope).await?;
    let list = ctx.sluice.list_endpoints(&scope, Some(250), None).await?;
    let mut health: std::collections::HashMap<_, _> =
        ctx.sluice.endpoint_health(&scope).await?.into_iter().map(|h| (h.endpoint_id.clone(), h)).collect();
    let endpoints = list
        .data
        .into_iter()
        .map(|endpoint| {
            let h = health.remove(&endpoint.id);
            let last_error = h.as_ref().and_then(|h| match (h.last_response_status, h.last_error_class) {
                (_, None) => None,
                (Some(s), Some(_)) => Some(format!("HTTP {s}")),
                (None, Some(c)) => Some(c.as_str().replace('_', " ")),
            });
            EndpointHealth {
                succeeded: h.as_ref().map_or(0, |h| h.succeeded),
                failed: h.as_ref().map_or(0, |h| h.failed),
                failing: h.as_ref().and_then(|h| h.failing.clone()),
                circuit_open: h
                    .and_then(|h| h.circuit_open)
                    .map(|open| (open.consecutive_failures, open.next_probe_at)),
                last_error,
                endpoint,
            }
        })
        .collect();
    Ok(EndpointsView { tenant_name: t.name, endpoints })
}

#[server(endpoint = "create_endpoint")]
pub async fn create_endpoint(
    tenant: String,
    url: String,
    description: Option<String>,
    event_types: Option<String>,
    labels: Option<String>,
    csrf: String,
    idempotency_key: Option<String>,
) -> Result<String, AppError> {
    use crate::auth::ssr::{fingerprint, once, parse_id};
    use sluice_core::model::CreateEndpoint;
    let (ctx, _, caller) = crate::auth::ssr::changing(&csrf).await?;
    let scope = caller.tenant_manage(&parse_id(&tenant)?)?;
    let request = fingerprint(&(&tenant, &url, &description, &event_types, &labels))?;
    let act = async move {
        let types = split_types(event_types.as_deref().unwrap_or(""));
        let req = CreateEndpoint {
            url,
            description: description.filter(|d| !d.trim().is_empty()),
            event_types: (!types.is_empty()).then_some(types),
            labels: labels.as_deref().map(split_labels),
            ..Default::default()
        };
        let e = ctx.sluice.create_endpoint(&scope, req).await?;
        Ok(e.id.to_string())
    };
    once(&caller, "create_endpoint", idempotency_key.as_deref(), request, act).await
}

/// Enables or disables (with a reason that the partner sees) an endpoint.
#[server(endpoint = "set_endpoint_enabled")]
pub async fn set_endpoint_enabled(
    tenant: String,
    endpoint: String,
    enabled: bool,
    csrf: String,
) -> Result<(), AppError> {
    use crate::auth::ssr::parse_id;
    use sluice_core::model::DisableEndpoint;
    let (ctx, session, caller) = crate::auth::ssr::changing(&csrf).await?;
    let (tenant, endpoint) = (caller.tenant_manage(&parse_id(&tenant)?)?, parse_id(&endpoint)?);
    let result = if enabled {
        ctx.sluice.enable_endpoint(&tenant, &endpoint).await
    } else {
        let reason = Some(format!("disabled in the dashboard by {}", session.display_name()));
        ctx.sluice.disable_endpoint(&tenant, &endpoint, DisableEndpoint { reason }).await
    };
    result?;
    Ok(())
}

/// Enables a disabled endpoint and re-queues what failed for good since it began to
/// fail; answers how many deliveries that re-queued.
#[server(endpoint = "enable_and_recover")]
pub async fn enable_and_recover(tenant: String, endpoint: String, csrf: String) -> Result<i64, AppError> {
    use crate::auth::ssr::parse_id;
    let (ctx, _, caller) = crate::auth::ssr::changing(&csrf).await?;
    let (tenant, endpoint) = (caller.tenant_manage(&parse_id(&tenant)?)?, parse_id(&endpoint)?);
    let (_, operation) = ctx.sluice.enable_and_recover(&tenant, &endpoint).await?;
    Ok(operation.total)
}

/// Whether the viewer may change endpoints: not support, not a read-only session
/// (until the viewer is known, the forms are offered, as they were before roles).
#[component]
pub fn EndpointsPage() -> impl IntoView {
    let params = use_params_map();
    let tenant = move || params.read().get("tenant").unwrap_or_default();
    let viewer = Resource::new(|| (), |_| crate::auth::current_viewer());
    let create = ServerAction::<CreateEndpoint>::new();
    let toggle = ServerAction::<SetEndpointEnabled>::new();
    let revive = ServerAction::<EnableAndRecover>::new();
    let tick = crate::pages::refresh_tick(5);
    let view_data = Resource::new(
        move || (tenant(), create.version().get(), toggle.version().get(), revive.version().get(), tick.get()),
        |(t, _, _, _, _)| load_endpoints(t),
    );
    let outcome = move || {
        let failed = create.value().get().and_then(Result::err).or_else(|| toggle.value().get().and_then(Result::err));
        match (failed, revive.value().get()) {
            (Some(e), _) | (None, Some(Err(e))) => {
                Some(view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> }.into_any())
            }
            (None, Some(Ok(n))) => {
                let text = format!("Enabled. {n} failed deliveries re-queued; those that were waiting resume.");
                Some(view! { <p role="status">{text}</p> }.into_any())
            }
            (None, None) => None,
        }
    };
    view! {
        <Title text="Endpoints · Sluice"/>
        <Suspense fallback=|| view! { <p>"Loading endpoints…"</p> }>
            {move || {
                let v = PageViewer::of(viewer.get());
                // Support mends deliveries but changes no endpoint, and a read-only
                // session changes nothing: no forms to fail.
                let can_change = v.changes_endpoints();
                let nonce = v.nonce();
                let csrf = v.csrf();
                view_data
                    .get()
                    .map(|r| match r {
                        Ok(v) => {
                            view! { <EndpointsView v tenant=tenant() csrf nonce can_change create toggle revive/> }
                                .into_any()
                        }
                        Err(e) => view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> }.into_any(),
                    })
            }}
        </Suspense>
        {outcome}
    }
}

#[component]
fn EndpointsView(
    v: EndpointsView,
    tenant: String,
    csrf: String,
    nonce: String,
    can_change: bool,
    create: ServerAction<CreateEndpoint>,
    toggle: ServerAction<SetEndpointEnabled>,
    revive: ServerAction<EnableAndRecover>,
) -> impl IntoView {
    let notice = disabled_notice(&v.endpoints, &tenant, &csrf, can_change, revive);
    let rows = v
        .endpoints
        .into_iter()
        .map(|h| {
            let e = h.endpoint;
            let finished = h.succeeded + h.failed;
            let rate = if finished == 0 {
                "—".to_owned()
            } else {
                format!("{:.0} % of {finished}", 100.0 * h.succeeded as f64 / finished as f64)
            };
            let enabled = e.status == EndpointStatus::Enabled;
            let state = if let (true, Some((failures, probe))) = (enabled, h.circuit_open) {
                // Enabled, but paused by the breaker: say why and until when, in words.
                let why =
                    failures.map_or_else(|| "opened by another node".to_owned(), |n| format!("{n} failures in a row"));
                let text = format!("circuit open: {why}, next try {}", crate::pages::when(&probe));
                view! { <span class="badge wait">{text}</span> }.into_any()
            } else if let (true, Some(f)) = (enabled, &h.failing) {
                let text = match f.disables_at {
                    Some(at) => format!("failing: disabled {} unless it recovers", crate::pages::when(&at)),
                    None => "failing".to_owned(),
                };
                let title = format!(
                    "every attempt since {} failed ({} attempts)",
                    crate::pages::when(&f.since),
                    f.failed_attempts
                );
                view! { <span class="badge bad" title=title>{text}</span> }.into_any()
            } else if enabled {
                view! { <span class="badge ok">"enabled"</span> }.into_any()
            } else {
                let reason = e.disabled_reason.clone().unwrap_or_default();
                view! { <span class="badge off" title=reason>"disabled"</span> }.into_any()
            };
            let edit = format!("/tenants/{}/endpoints/{}", e.tenant_id, e.id);
            // What the endpoint's page offers this viewer: a form, or a look.
            let open_label = if can_change { "Edit" } else { "View" };
            let recover = format!("{edit}/recover");
            let label = if enabled { "Disable" } else { "Enable" };
            let (t, id, c) = (tenant.clone(), e.id.to_string(), csrf.clone());
            let toggle_label = format!("{label} {}", e.url);
            let toggle_form = can_change.then(move || {
                view! {
                    <ActionForm action=toggle>
                        <input type="hidden" name="tenant" value=t/>
                        <input type="hidden" name="endpoint" value=id/>
                        <input type="hidden" name="enabled" value=(!enabled).to_string()/>
                        <input type="hidden" name="csrf" value=c/>
                        <button type="submit" class="secondary" aria-label=toggle_label>{label}</button>
                    </ActionForm>
                }
            });
            view! {
                <tr data-testid="endpoint-row">
                    <td class="url">{e.url.clone()}</td>
                    <td>{e.description.clone()}</td>
                    <td>{state}</td>
                    <td>{rate}</td>
                    <td>{h.last_error.unwrap_or_else(|| "—".into())}</td>
                    <td class="actions">
                        <A href=edit attr:aria-label=format!("{open_label} {}", e.url)>{open_label}</A>
                        <A href=recover attr:aria-label=format!("Recover {}", e.url)>"Recover"</A>
                        {toggle_form}
                    </td>
                </tr>
            }
        })
        .collect_view();
    let (form_tenant, form_csrf) = (tenant.clone(), csrf.clone());
    let add_form = can_change.then(move || {
        view! {
        <details class="card">
            <summary>"Add an endpoint"</summary>
            <ActionForm action=create>
                <input type="hidden" name="tenant" value=form_tenant/>
                <input type="hidden" name="csrf" value=form_csrf/>
                <crate::pages::SubmissionKey nonce form="create_endpoint".into() completed=create.version()/>
                <div class="field">
                    <label for="new-url">"URL"</label>
                    <input id="new-url" name="url" type="url" required placeholder="https://example.com/webhooks"/>
                </div>
                <div class="field">
                    <label for="new-description">"Description"</label>
                    <input id="new-description" name="description"/>
                </div>
                <div class="field">
                    <label for="new-types">"Event types (comma-separated; empty for all)"</label>
                    <input id="new-types" name="event_types" aria-describedby="new-types-hint"/>
                    <crate::pages::EventTypesHint id="new-types-hint"/>
                </div>
                <div class="field">
                    <label for="new-labels">"Labels (key=value, comma-separated)"</label>
                    <input id="new-labels" name="labels" placeholder="kind=erp, region=eu"/>
                </div>
                <button type="submit" disabled=move || create.pending().get()>"Add endpoint"</button>
            </ActionForm>
        </details>
        }
    });
    view! {
        <h1>"Endpoints"</h1>
        <p class="mb-6 text-slate-600">{v.tenant_name}</p>
        <crate::pages::TenantNav tenant=tenant.clone()/>
        {notice}
        <p><A href=format!("/tenants/{tenant}/recover")>"Recover failed deliveries of every endpoint"</A></p>
        {add_form}
        <div class="table-wrap">
            <table>
                <caption class="sr-only">"Endpoints"</caption>
                <thead>
                    <tr>
                        <th scope="col">"URL"</th>
                        <th scope="col">"Description"</th>
                        <th scope="col">"State"</th>
                        <th scope="col">"Recent success"</th>
                        <th scope="col">"Last error"</th>
                        <th scope="col">"Actions"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

/// The disabled endpoints, each with why and since when, and (for viewers who may
/// change endpoints) the one click that enables it and brings back what failed.
fn disabled_notice(
    endpoints: &[EndpointHealth],
    tenant: &str,
    csrf: &str,
    can_change: bool,
    revive: ServerAction<EnableAndRecover>,
) -> Option<impl IntoView> {
    let disabled: Vec<&Endpoint> =
        endpoints.iter().map(|h| &h.endpoint).filter(|e| e.status == EndpointStatus::Disabled).collect();
    if disabled.is_empty() {
        return None;
    }
    let items = disabled
        .into_iter()
        .map(|e| {
            let since = e.disabled_at.as_ref().map(crate::pages::when).unwrap_or_default();
            let why = e.disabled_reason.clone().unwrap_or_else(|| "no reason given".into());
            let (t, id, c) = (tenant.to_owned(), e.id.to_string(), csrf.to_owned());
            let label = format!("Enable {} and recover its failed deliveries", e.url);
            let button = can_change.then(move || {
                view! {
                    <ActionForm action=revive>
                        <input type="hidden" name="tenant" value=t/>
                        <input type="hidden" name="endpoint" value=id/>
                        <input type="hidden" name="csrf" value=c/>
                        <button type="submit" aria-label=label disabled=move || revive.pending().get()>
                            "Enable and recover failed deliveries"
                        </button>
                    </ActionForm>
                }
            });
            view! {
                <li data-testid="disabled-endpoint">
                    <strong class="url">{e.url.clone()}</strong>
                    {format!(" — disabled {since}: {why}. New messages skip it; deliveries it was retrying wait for it.")}
                    {button}
                </li>
            }
        })
        .collect_view();
    Some(view! {
        <section class="card" role="region" aria-label="Disabled endpoints">
            <h2>"Disabled endpoints"</h2>
            <ul>{items}</ul>
        </section>
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn labels_round_trip_through_the_form() {
        let labels = super::split_labels(" kind = erp,region=eu ,, broken");
        assert_eq!(super::join_labels(&labels), "broken=, kind=erp, region=eu");
        assert!(super::split_labels("").is_empty());
    }
}
