//! The delivery log of one tenant: every delivery, newest first, filtered by status,
//! endpoint and event type, a page at a time, refreshed while it is open.

use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{Form, A};
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};
use sluice_core::model::{Delivery, Page};

use crate::auth::error_text;
use crate::pages::{status_badge, when};

/// One page of the log and what the filter form needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryLog {
    pub tenant_name: String,
    /// (id, url) of the tenant's endpoints, for the filter and the table.
    pub endpoints: Vec<(String, String)>,
    pub page: Page<Delivery>,
}

/// Filter values from the query string; empty means "any".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogFilter {
    pub status: Option<String>,
    pub endpoint_id: Option<String>,
    pub event_type: Option<String>,
    /// UTC, as a `datetime-local` input sends it or RFC 3339.
    pub since: Option<String>,
    pub cursor: Option<String>,
}

#[server(endpoint = "load_delivery_log")]
pub async fn load_delivery_log(
    tenant: String,
    status: Option<String>,
    endpoint_id: Option<String>,
    event_type: Option<String>,
    since: Option<String>,
    cursor: Option<String>,
) -> Result<DeliveryLog, AppError> {
    use crate::auth::ssr::parse_id;
    let (ctx, _, caller) = crate::auth::ssr::reading().await?;
    let tenant = parse_id(&tenant)?;
    let nonempty = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    // The form's datetime-local value is local wall time without a zone; the query
    // wants RFC 3339.
    let since = nonempty(since).map(|s| crate::pages::form_time_as_rfc3339(&s));
    let query = sluice_engine::service::DeliveryQuery { status, endpoint_id, message_id: None, event_type, since };
    let db_filter = query.into_filter()?;
    let scope = caller.tenant(&tenant)?;
    let t = ctx.sluice.get_tenant(&scope).await?;
    let endpoints = ctx.sluice.list_endpoints(&scope, Some(250), None).await?;
    let page = ctx.sluice.list_deliveries(&scope, db_filter, Some(50), nonempty(cursor)).await?;
    Ok(DeliveryLog {
        tenant_name: t.name,
        endpoints: endpoints.data.into_iter().map(|e| (e.id.to_string(), e.url)).collect(),
        page,
    })
}

#[component]
pub fn DeliveriesPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let tenant = move || params.read().get("tenant").unwrap_or_default();
    let filter = move || {
        let q = query.read();
        LogFilter {
            status: q.get("status"),
            endpoint_id: q.get("endpoint_id"),
            event_type: q.get("event_type"),
            since: q.get("since"),
            cursor: q.get("cursor"),
        }
    };
    // Live refresh: a tick every few seconds once hydrated (never on the server).
    let tick = crate::pages::refresh_tick(3);
    let log = Resource::new(
        move || (tenant(), filter(), tick.get()),
        |(t, f, _)| load_delivery_log(t, f.status, f.endpoint_id, f.event_type, f.since, f.cursor),
    );

    view! {
        <Title text="Deliveries · Sluice"/>
        <Suspense fallback=|| view! { <p>"Loading deliveries…"</p> }>
            {move || {
                log.get()
                    .map(|r| match r {
                        Ok(log) => view! { <LogView log filter=filter() tenant=tenant()/> }.into_any(),
                        Err(e) => view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

#[component]
fn LogView(log: DeliveryLog, filter: LogFilter, tenant: String) -> impl IntoView {
    let url_of = {
        let endpoints = log.endpoints.clone();
        move |id: &str| endpoints.iter().find(|(e, _)| e == id).map(|(_, u)| u.clone()).unwrap_or_else(|| id.to_owned())
    };
    let selected_status = filter.status.clone().unwrap_or_default();
    let selected_endpoint = filter.endpoint_id.clone().unwrap_or_default();
    let older = log.page.next_cursor.clone().map(|cursor| {
        let mut q = vec![format!("cursor={cursor}")];
        for (k, v) in [
            ("status", &filter.status),
            ("endpoint_id", &filter.endpoint_id),
            ("event_type", &filter.event_type),
            ("since", &filter.since),
        ] {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                q.push(format!("{k}={}", urlencode(v)));
            }
        }
        format!("/tenants/{tenant}/deliveries?{}", q.join("&"))
    });
    let rows = log.page.data.clone();
    let empty = rows.is_empty();
    view! {
        <h1>"Deliveries"</h1>
        <p class="mb-6 text-slate-600">{log.tenant_name.clone()}</p>
        <crate::pages::TenantNav tenant=tenant.clone()/>
        <Form method="GET" action="" attr:class="filters" attr:aria-label="Filter deliveries">
            <div class="field">
                <label for="status">"Status"</label>
                <select id="status" name="status">
                    <option value="" selected=selected_status.is_empty()>"Any"</option>
                    {["pending", "succeeded", "failed", "cancelled"]
                        .into_iter()
                        .map(|s| view! { <option value=s selected=selected_status == s>{s}</option> })
                        .collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="endpoint_id">"Endpoint"</label>
                <select id="endpoint_id" name="endpoint_id">
                    <option value="" selected=selected_endpoint.is_empty()>"Any"</option>
                    {log.endpoints
                        .iter()
                        .map(|(id, url)| {
                            view! { <option value=id.clone() selected=selected_endpoint == *id>{url.clone()}</option> }
                        })
                        .collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="event_type">"Event type"</label>
                <input id="event_type" name="event_type" value=filter.event_type.clone().unwrap_or_default()/>
            </div>
            <div class="field">
                <label for="since">"Since (UTC)"</label>
                <input id="since" name="since" type="datetime-local" value=filter.since.clone().unwrap_or_default()/>
            </div>
            <button type="submit">"Filter"</button>
        </Form>
        <div class="table-wrap">
            <table>
                <caption class="sr-only">"Deliveries, newest first"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Event type"</th>
                        <th scope="col">"Endpoint"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Attempts"</th>
                        <th scope="col">"Last result"</th>
                        <th scope="col">"Message"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows
                        .into_iter()
                        .map(|d| {
                            let last = match (d.last_response_status, d.last_error_class) {
                                (Some(s), _) => format!("HTTP {s}"),
                                (None, Some(c)) => c.as_str().replace('_', " "),
                                (None, None) => "—".into(),
                            };
                            let href = format!("/tenants/{}/messages/{}", d.tenant_id, d.message_id);
                            view! {
                                <tr data-testid="delivery-row">
                                    <td>{when(&d.created_at)}</td>
                                    <td>{d.event_type.clone()}</td>
                                    <td class="url">{url_of(d.endpoint_id.as_str())}</td>
                                    <td>{status_badge(d.status)}</td>
                                    <td class="num">{d.attempts}</td>
                                    <td>{last}</td>
                                    <td><A href=href>{d.message_id.to_string()}</A></td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
        {empty.then(|| view! { <p class="text-sm text-slate-500">"No deliveries match."</p> })}
        {older.map(|href| view! { <p><A href=href>"Older deliveries"</A></p> })}
    }
}

/// Percent-encodes a query value (the few characters an event type or id can hold).
fn urlencode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}
