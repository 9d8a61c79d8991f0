//! A tenant's incidents (`/tenants/{tenant}/incidents`): the open ones first, then the
//! ended ones, with time to detect and recover; a person opening the page
//! acknowledges the open ones it shows. Also the time-to-detect-and-recover table the
//! overview and the home page show.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};
use sluice_core::incidents::human_seconds;
use sluice_core::model::{Incident, IncidentCause, IncidentResolution, IncidentStats, IncidentTimes, Percentiles};

use crate::auth::error_text;
use crate::error::AppError;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IncidentsView {
    pub tenant_name: String,
    /// Open, oldest first; then the latest that ended.
    pub open: Vec<Incident>,
    pub ended: Vec<Incident>,
    pub stats: IncidentStats,
}

/// The tenant's incidents. The viewer is a person (the dashboard has no other), so
/// the open ones it shows are acknowledged by them, the first time anyone looks;
/// not when another site sent the browser here.
#[server(endpoint = "load_incidents")]
pub async fn load_incidents(tenant: String) -> Result<IncidentsView, AppError> {
    let (ctx, _, caller) = crate::auth::ssr::reading().await?;
    let scope = caller.tenant(&crate::auth::ssr::parse_id(&tenant)?)?;
    let tenant_name = ctx.sluice.get_tenant(&scope).await?.name;
    let looked = crate::auth::ssr::opened_from_this_site().await;
    let shown = ctx.sluice.show_incidents(&scope, looked).await?;
    Ok(IncidentsView { tenant_name, open: shown.open, ended: shown.ended, stats: shown.stats })
}

#[component]
pub fn IncidentsPage() -> impl IntoView {
    let params = use_params_map();
    let tenant = move || params.read().get("tenant").unwrap_or_default();
    let tick = crate::pages::refresh_tick(30);
    let data = Resource::new(move || (tenant(), tick.get()), |(t, _)| load_incidents(t));
    view! {
        <Title text="Incidents · Sluice"/>
        <h1>"Incidents"</h1>
        <Suspense fallback=|| view! { <p>"Loading the incidents…"</p> }>
            {move || {
                data.get()
                    .map(|r| match r {
                        Ok(v) => view! { <IncidentsBody v tenant=tenant()/> }.into_any(),
                        Err(e) => view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

#[component]
fn IncidentsBody(v: IncidentsView, tenant: String) -> impl IntoView {
    let open_empty = v.open.is_empty();
    view! {
        <p class="mb-6 text-slate-600">{v.tenant_name}</p>
        <crate::pages::TenantNav tenant=tenant.clone()/>
        <p class="text-sm text-slate-600">
            "An incident opens when an endpoint's circuit opens or too many of its recent attempts fail, and ends once a success has held without a failure after it. Opening this page tells everyone someone is looking."
        </p>
        <section class="card" aria-labelledby="open-heading">
            <h2 id="open-heading">"Open"</h2>
            {open_empty.then(|| view! { <p data-testid="no-open-incidents">"No open incidents."</p> })}
            {(!open_empty).then(|| view! { <IncidentTable incidents=v.open tenant=tenant.clone() caption="Open incidents"/> })}
        </section>
        <section class="card" aria-labelledby="times-heading">
            <h2 id="times-heading">"Time to detect and recover"</h2>
            <IncidentTimesTable stats=v.stats/>
        </section>
        <section class="card" aria-labelledby="ended-heading">
            <h2 id="ended-heading">"Ended"</h2>
            {v.ended.is_empty().then(|| view! { <p>"None yet."</p> })}
            {(!v.ended.is_empty()).then(|| view! { <IncidentTable incidents=v.ended tenant=tenant.clone() caption="Ended incidents"/> })}
        </section>
    }
}

pub fn cause_text(cause: IncidentCause) -> &'static str {
    match cause {
        IncidentCause::CircuitOpened => "circuit opened",
        IncidentCause::FailureRate => "attempts failing",
    }
}

/// What became of it, in words.
pub fn state_text(i: &Incident) -> String {
    match (i.resolution, &i.acknowledged_at) {
        (Some(IncidentResolution::Recovered), _) => "recovered".into(),
        (Some(IncidentResolution::EndpointDeleted), _) => "endpoint deleted".into(),
        (None, Some(at)) => format!("open, seen {}", crate::pages::when_minute(at)),
        (None, None) => "open, not yet seen".into(),
    }
}

#[component]
fn IncidentTable(incidents: Vec<Incident>, tenant: String, caption: &'static str) -> impl IntoView {
    let rows = incidents
        .into_iter()
        .map(|i| {
            let endpoint = format!("/tenants/{tenant}/endpoints/{}", i.endpoint_id);
            let recover = i.time_to_recover_seconds.map(human_seconds).unwrap_or_else(|| "—".into());
            let badge = if i.is_open() { "badge bad" } else { "badge ok" };
            let failures = format!("{} of {}", i.failed_attempts, i.attempts);
            let (id, endpoint_id, state) = (i.id.to_string(), i.endpoint_id.to_string(), state_text(&i));
            view! {
                <tr data-testid="incident-row" data-incident=id>
                    <td><span class=badge data-testid="incident-state">{state}</span></td>
                    <td>{cause_text(i.cause)}</td>
                    <td class="num">{failures}</td>
                    <td>{crate::pages::when_minute(&i.first_failure_at)}</td>
                    <td class="num">{human_seconds(i.time_to_detect_seconds)}</td>
                    <td class="num">{recover}</td>
                    <td><A href=endpoint>{endpoint_id}</A></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table>
                <caption class="sr-only">{caption}</caption>
                <thead>
                    <tr>
                        <th scope="col">"State"</th>
                        <th scope="col">"Detected by"</th>
                        <th scope="col" class="num">"Failed attempts"</th>
                        <th scope="col">"First failure (UTC)"</th>
                        <th scope="col" class="num">"To detect"</th>
                        <th scope="col" class="num">"To recover"</th>
                        <th scope="col">"Endpoint"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

/// Time to detect and recover over 7 and 30 days, median and 90th percentile.
#[component]
pub fn IncidentTimesTable(stats: IncidentStats) -> impl IntoView {
    let seconds = |v: Option<f64>| v.map(human_seconds).unwrap_or_else(|| "—".into());
    let row = move |t: IncidentTimes| {
        let Percentiles { median_seconds: detect_median, p90_seconds: detect_p90 } = t.time_to_detect;
        let Percentiles { median_seconds: recover_median, p90_seconds: recover_p90 } = t.time_to_recover;
        view! {
            <tr data-testid="incident-times">
                <th scope="row">{format!("{} days", t.days)}</th>
                <td class="num">{t.opened}</td>
                <td class="num">{t.recovered}</td>
                <td class="num">{seconds(detect_median)}</td>
                <td class="num">{seconds(detect_p90)}</td>
                <td class="num">{seconds(recover_median)}</td>
                <td class="num">{seconds(recover_p90)}</td>
            </tr>
        }
    };
    view! {
        <p data-testid="open-incidents">{format!("Open now: {}", stats.open_now)}</p>
        <div class="table-wrap">
            <table>
                <caption class="sr-only">"Time to detect and recover"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Window"</th>
                        <th scope="col" class="num">"Incidents"</th>
                        <th scope="col" class="num">"Recovered"</th>
                        <th scope="col" class="num">"Detect, median"</th>
                        <th scope="col" class="num">"Detect, p90"</th>
                        <th scope="col" class="num">"Recover, median"</th>
                        <th scope="col" class="num">"Recover, p90"</th>
                    </tr>
                </thead>
                <tbody>{row(stats.last_7_days)} {row(stats.last_30_days)}</tbody>
            </table>
        </div>
        <p class="text-sm text-slate-600">
            "From an endpoint's first failed attempt: to detect, until the incident opened; to recover, until the success that held."
        </p>
    }
}
