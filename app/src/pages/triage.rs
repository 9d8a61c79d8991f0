//! Support's triage: tenants worst first, the error classes behind the failures, and
//! a search for any message id, idempotency key, endpoint id or URL fragment.

use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{Form, A};
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use sluice_core::incidents::human_seconds;
use sluice_core::model::Incident;

use crate::auth::error_text;
use crate::charts::fmt_pct;

/// One tenant's line in triage (the engine's type stays on the server).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TriageRow {
    pub id: String,
    pub name: String,
    pub tier: String,
    pub failed: i64,
    pub backlog: i64,
    pub disabled_endpoints: i64,
    pub attainment: Option<f64>,
    pub burn_rate: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TriageView {
    /// Worst SLO burn first.
    pub tenants: Vec<TriageRow>,
    pub error_classes: Vec<(String, i64)>,
    /// Every tenant's open incidents, worst first (nobody has looked, then the
    /// longest open), with their tenant's name and how long it has been failing, in
    /// seconds (as of the server's clock: the browser's may be off).
    pub incidents: Vec<(Incident, String, f64)>,
    /// (kind, link, label, id) for the search, if one was asked.
    pub hits: Option<Vec<(String, String, String, String)>>,
}

#[server(endpoint = "load_triage")]
pub async fn load_triage(q: Option<String>) -> Result<TriageView, AppError> {
    let (ctx, _, caller) = crate::auth::ssr::reading().await?;
    let operator = caller.operator()?;
    let triage = ctx.sluice.triage(&operator).await?;
    let names: std::collections::HashMap<&str, &str> =
        triage.tenants.iter().map(|t| (t.tenant_id.as_str(), t.name.as_str())).collect();
    let now = chrono::Utc::now();
    let incidents = ctx
        .sluice
        .open_incidents_worst_first(&operator)
        .await?
        .into_iter()
        .map(|i| {
            let name = names.get(i.tenant_id.as_str()).map_or_else(|| i.tenant_id.to_string(), |n| (*n).to_owned());
            let failing_for = (now - i.first_failure_at).num_milliseconds() as f64 / 1000.0;
            (i, name, failing_for)
        })
        .collect();
    let hits = match q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty()) {
        Some(q) => Some(
            ctx.sluice
                .search(&caller.operator()?, &q)
                .await?
                .into_iter()
                .map(|h| {
                    let link = match h.kind.as_str() {
                        "message" => format!("/tenants/{}/messages/{}", h.tenant_id, h.id),
                        _ => format!("/tenants/{}/endpoints/{}", h.tenant_id, h.id),
                    };
                    (h.kind, link, h.label, h.id)
                })
                .collect(),
        ),
        None => None,
    };
    Ok(TriageView {
        tenants: triage
            .tenants
            .into_iter()
            .map(|t| TriageRow {
                attainment: sluice_core::slo::attainment(t.slo_counted, t.slo_good),
                burn_rate: sluice_core::slo::burn_rate(t.slo_counted, t.slo_good, t.success_target),
                id: t.tenant_id,
                name: t.name,
                tier: t.tier,
                failed: t.failed,
                backlog: t.backlog,
                disabled_endpoints: t.disabled_endpoints,
            })
            .collect(),
        error_classes: triage.error_classes,
        incidents,
        hits,
    })
}

#[component]
pub fn TriagePage() -> impl IntoView {
    let query = use_query_map();
    let q = move || query.read().get("q");
    let tick = crate::pages::refresh_tick(5);
    let data = Resource::new(move || (q(), tick.get()), |(q, _)| load_triage(q));
    view! {
        <Title text="Triage · Sluice"/>
        <h1>"Triage"</h1>
        <p class="mb-6 text-slate-600">"Every tenant over the last 24 hours, fastest SLO burn first: how many times faster than its tier allows it spends its error budget."</p>
        <Form method="GET" action="" attr:class="filters" attr:role="search">
            <div class="field">
                <label for="q">"Search by message id, idempotency key, endpoint id or URL"</label>
                <input id="q" name="q" value=move || q().unwrap_or_default()/>
            </div>
            <button type="submit">"Search"</button>
        </Form>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                data.get()
                    .map(|r| match r {
                        Ok(v) => view! { <TriageTables v/> }.into_any(),
                        Err(e) => view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

#[component]
fn TriageTables(v: TriageView) -> impl IntoView {
    let hits = v.hits.map(|hits| {
        let empty = hits.is_empty();
        view! {
            <section class="card" aria-labelledby="hits-heading">
                <h2 id="hits-heading">"Search results"</h2>
                {empty.then(|| view! { <p class="text-sm text-slate-500">"Nothing matches."</p> })}
                <ul data-testid="search-hits">
                    {hits
                        .into_iter()
                        .map(|(kind, link, label, id)| view! {
                            <li>{kind} " " <A href=link>{id}</A> " · " {label}</li>
                        })
                        .collect_view()}
                </ul>
            </section>
        }
    });
    view! {
        {hits}
        <OpenIncidents incidents=v.incidents/>
        <div class="table-wrap">
            <table>
                <caption class="sr-only">"Tenants, worst first"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Tenant"</th>
                        <th scope="col">"Tier"</th>
                        <th scope="col">"SLO burn"</th>
                        <th scope="col" class="num">"Attainment"</th>
                        <th scope="col" class="num">"Failed"</th>
                        <th scope="col" class="num">"Backlog"</th>
                        <th scope="col" class="num">"Disabled endpoints"</th>
                    </tr>
                </thead>
                <tbody>
                    {v.tenants
                        .into_iter()
                        .map(|t| {
                            // Burn 1 spends the error budget exactly over the SLO period;
                            // above it the budget runs out early.
                            let (class, burn) = match t.burn_rate {
                                None => ("badge off", "no data".to_owned()),
                                Some(b) if b > 1.0 => ("badge bad", format!("burning {b:.1}×")),
                                Some(b) => ("badge ok", format!("{b:.1}×")),
                            };
                            let attainment = t.attainment.map(fmt_pct).unwrap_or_else(|| "—".into());
                            let failed_href = format!("/tenants/{}/deliveries?status=failed", t.id);
                            view! {
                                <tr data-testid="triage-row">
                                    <td><A href=format!("/tenants/{}", t.id)>{t.name}</A></td>
                                    <td>{t.tier}</td>
                                    <td><span class=class>{burn}</span></td>
                                    <td class="num">{attainment}</td>
                                    <td class="num"><A href=failed_href>{t.failed}</A></td>
                                    <td class="num">{t.backlog}</td>
                                    <td class="num">{t.disabled_endpoints}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
        <section class="card" aria-labelledby="classes-heading">
            <h2 id="classes-heading">"Error classes"</h2>
            <ul data-testid="error-classes">
                {v.error_classes
                    .into_iter()
                    .map(|(class, n)| view! { <li>{class.replace('_', " ")} ": " {n}</li> })
                    .collect_view()}
            </ul>
        </section>
    }
}

/// Every tenant's open incidents, worst first; each links to its tenant's incidents
/// page, where opening it acknowledges it.
#[component]
fn OpenIncidents(incidents: Vec<(Incident, String, f64)>) -> impl IntoView {
    let empty = incidents.is_empty();
    let rows = incidents
        .into_iter()
        .map(|(i, tenant, failing_for)| {
            let href = format!("/tenants/{}/incidents", i.tenant_id);
            let open_for = human_seconds(failing_for);
            view! {
                <tr data-testid="triage-incident">
                    <td><A href=href>{tenant}</A></td>
                    <td data-testid="triage-incident-state">{crate::pages::incidents::state_text(&i)}</td>
                    <td>{crate::pages::incidents::cause_text(i.cause)}</td>
                    <td class="num">{open_for}</td>
                    <td><code>{i.endpoint_id.to_string()}</code></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="card" aria-labelledby="incidents-heading">
            <h2 id="incidents-heading">"Open incidents"</h2>
            {empty.then(|| view! { <p class="text-sm text-slate-500">"None: every endpoint is delivering."</p> })}
            {(!empty).then(|| view! {
                <div class="table-wrap">
                    <table>
                        <caption class="sr-only">"Open incidents, worst first"</caption>
                        <thead>
                            <tr>
                                <th scope="col">"Tenant"</th>
                                <th scope="col">"State"</th>
                                <th scope="col">"Detected by"</th>
                                <th scope="col" class="num">"Failing for"</th>
                                <th scope="col">"Endpoint"</th>
                            </tr>
                        </thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
            })}
        </section>
    }
}
