//! A tenant's overview: SLO attainment and error budget against its tier, delivery
//! latency over the last day, volume, backlog and why deliveries fail.

use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use sluice_core::model::TenantOverview;

use crate::auth::error_text;
use crate::charts::{fmt_ms, fmt_pct, LatencyChart, Series, VolumeChart};

#[server(endpoint = "load_overview")]
pub async fn load_overview(tenant: String) -> Result<TenantOverview, AppError> {
    use crate::auth::ssr::parse_id;
    let (ctx, _, caller) = crate::auth::ssr::reading().await?;
    ctx.sluice.tenant_overview(&caller.tenant(&parse_id(&tenant)?)?).await.map_err(AppError::from)
}

#[component]
pub fn OverviewPage() -> impl IntoView {
    let params = use_params_map();
    let tenant = move || params.read().get("tenant").unwrap_or_default();
    // The numbers move slowly; a refresh every 30 s keeps an open tab honest.
    let tick = crate::pages::refresh_tick(30);
    let overview = Resource::new(move || (tenant(), tick.get()), |(t, _)| load_overview(t));
    view! {
        <Title text="Overview · Sluice"/>
        <Suspense fallback=|| view! { <p>"Loading the overview…"</p> }>
            {move || {
                overview
                    .get()
                    .map(|r| match r {
                        Ok(o) => view! { <OverviewView o tenant=tenant()/> }.into_any(),
                        Err(e) => view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

#[component]
fn OverviewView(o: TenantOverview, tenant: String) -> impl IntoView {
    let target = o.tier.success_target;
    let promise = format!(
        "{} tier: {} of deliveries within {} of publishing",
        o.tier.name,
        fmt_pct(target),
        fmt_ms(o.tier.latency_target_ms as f64)
    );
    let hours: Vec<String> = o.latency.iter().map(|p| p.start.format("%H:00").to_string()).collect();
    let latency_series = vec![
        Series { name: "p50", class: "p50", values: o.latency.iter().map(|p| p.p50_ms).collect() },
        Series { name: "p95", class: "p95", values: o.latency.iter().map(|p| p.p95_ms).collect() },
        Series { name: "p99", class: "p99", values: o.latency.iter().map(|p| p.p99_ms).collect() },
    ];
    let succeeded: Vec<i64> = o.latency.iter().map(|p| p.succeeded).collect();
    let failed: Vec<i64> = o.latency.iter().map(|p| p.failed).collect();
    let pct_or_dash = |v: Option<f64>| v.map(fmt_pct).unwrap_or_else(|| "—".into());
    let ms_or_dash = |v: Option<f64>| v.map(fmt_ms).unwrap_or_else(|| "—".into());
    let total_errors: i64 = o.error_classes.iter().map(|c| c.deliveries).sum();
    let incidents_href = format!("/tenants/{tenant}/incidents");
    view! {
        <h1>"Overview"</h1>
        <p class="mb-6 text-slate-600">{o.tenant.name.clone()}</p>
        <crate::pages::TenantNav tenant=tenant/>
        <p data-testid="tier-promise">{promise}</p>
        <section aria-labelledby="slo-heading" class="card">
            <h2 id="slo-heading">"Service level"</h2>
            <div class="table-wrap">
                <table>
                    <caption class="sr-only">"SLO attainment by window"</caption>
                    <thead>
                        <tr>
                            <th scope="col">"Window"</th>
                            <th scope="col" class="num">"Counted"</th>
                            <th scope="col" class="num">"Good"</th>
                            <th scope="col" class="num">"Attainment"</th>
                            <th scope="col">"Target"</th>
                            <th scope="col">"Error budget left"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {o.windows
                            .iter()
                            .map(|w| {
                                let (class, verdict) = match w.attainment {
                                    None => ("badge off", "no data"),
                                    Some(a) if a >= target => ("badge ok", "met"),
                                    Some(_) => ("badge bad", "missed"),
                                };
                                let budget = w.budget_remaining.map(|b| {
                                    let width = (b.clamp(0.0, 1.0) * 100.0).round();
                                    let text = if b < 0.0 {
                                        // A percentage far below zero says little; counts do.
                                        let allowed = (1.0 - target) * w.counted as f64;
                                        let allowed =
                                            if allowed < 1.0 { format!("{allowed:.3}") } else { format!("{allowed:.0}") };
                                        format!("none: {} bad vs {allowed} allowed", w.counted - w.good)
                                    } else {
                                        fmt_pct(b)
                                    };
                                    (width, text)
                                });
                                view! {
                                    <tr data-testid="slo-window">
                                        <th scope="row">{w.label.clone()}</th>
                                        <td class="num">{w.counted}</td>
                                        <td class="num">{w.good}</td>
                                        <td class="num">{pct_or_dash(w.attainment)}</td>
                                        <td><span class=class>{verdict}</span></td>
                                        <td>
                                            {match budget {
                                                Some((width, text)) => view! {
                                                    <span class="meter" aria-hidden="true">
                                                        <span style=format!("width: {width}%")></span>
                                                    </span>
                                                    " "
                                                    {text}
                                                }
                                                    .into_any(),
                                                None => view! { "—" }.into_any(),
                                            }}
                                        </td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </div>
            <p class="text-sm text-slate-500">
                "A delivery is good when its endpoint accepted it within the target. Failed deliveries, and "
                "pending ones already past the target, count against the budget; replays never make a late one good."
            </p>
        </section>
        <dl class="facts">
            <dt>"Backlog now"</dt>
            <dd data-testid="backlog">{o.backlog}</dd>
            <dt>"Latency, last 24 h"</dt>
            <dd data-testid="latency-summary">
                {format!("p50 {} · p95 {} · p99 {}", ms_or_dash(o.p50_ms), ms_or_dash(o.p95_ms), ms_or_dash(o.p99_ms))}
            </dd>
        </dl>
        <section aria-labelledby="latency-heading">
            <h2 id="latency-heading">"Latency, publish to delivered (UTC hours)"</h2>
            <LatencyChart
                title="Delivery latency percentiles per hour over the last 24 hours, log scale".into()
                hours=hours.clone()
                series=latency_series
                target_ms=o.tier.latency_target_ms as f64
            />
        </section>
        <section aria-labelledby="volume-heading">
            <h2 id="volume-heading">"Deliveries per hour"</h2>
            <VolumeChart
                title="Succeeded and failed deliveries per hour over the last 24 hours".into()
                hours=hours.clone()
                succeeded=succeeded
                failed=failed
            />
            <details>
                <summary>"The numbers behind the charts"</summary>
                <div class="table-wrap">
                    <table>
                        <caption class="sr-only">"Hourly deliveries and latency"</caption>
                        <thead>
                            <tr>
                                <th scope="col">"Hour (UTC)"</th>
                                <th scope="col" class="num">"Succeeded"</th>
                                <th scope="col" class="num">"Failed"</th>
                                <th scope="col" class="num">"p50"</th>
                                <th scope="col" class="num">"p95"</th>
                                <th scope="col" class="num">"p99"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {o.latency
                                .iter()
                                .map(|p| view! {
                                    <tr>
                                        <td>{p.start.format("%Y-%m-%d %H:00").to_string()}</td>
                                        <td class="num">{p.succeeded}</td>
                                        <td class="num">{p.failed}</td>
                                        <td class="num">{ms_or_dash(p.p50_ms)}</td>
                                        <td class="num">{ms_or_dash(p.p95_ms)}</td>
                                        <td class="num">{ms_or_dash(p.p99_ms)}</td>
                                    </tr>
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                </div>
            </details>
        </section>
        <section aria-labelledby="errors-heading">
            <h2 id="errors-heading">"Why deliveries fail, last 24 h"</h2>
            {if o.error_classes.is_empty() {
                view! { <p>"No failing deliveries."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table>
                            <caption class="sr-only">"Error classes"</caption>
                            <thead>
                                <tr>
                                    <th scope="col">"Error class"</th>
                                    <th scope="col" class="num">"Deliveries"</th>
                                    <th scope="col">"Share"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {o.error_classes
                                    .iter()
                                    .map(|c| {
                                        let share = c.deliveries as f64 / total_errors.max(1) as f64;
                                        view! {
                                            <tr data-testid="error-class">
                                                <td>{c.error_class.replace('_', " ")}</td>
                                                <td class="num">{c.deliveries}</td>
                                                <td>
                                                    <span class="meter bad" aria-hidden="true">
                                                        <span style=format!("width: {:.0}%", share * 100.0)></span>
                                                    </span>
                                                    " "
                                                    {fmt_pct(share)}
                                                </td>
                                            </tr>
                                        }
                                    })
                                    .collect_view()}
                            </tbody>
                        </table>
                    </div>
                }
                    .into_any()
            }}
        </section>
        <LabelTable labels=o.by_label.clone()/>
        <section aria-labelledby="incidents-heading" class="card">
            <h2 id="incidents-heading">"Incidents"</h2>
            <crate::pages::incidents::IncidentTimesTable stats=o.incidents.clone()/>
            <A href=incidents_href>"See the incidents"</A>
        </section>
    }
}

/// Delivery success by endpoint label; nothing when no endpoint has labels.
#[component]
fn LabelTable(labels: Vec<sluice_core::model::LabelSuccess>) -> impl IntoView {
    (!labels.is_empty()).then(|| {
        let rows = labels
            .into_iter()
            .map(|l| {
                let finished = l.succeeded + l.failed;
                let share =
                    if finished == 0 { "–".to_owned() } else { fmt_pct(l.succeeded as f64 / finished as f64) };
                view! {
                    <tr data-testid="label-success">
                        <td>{l.label}</td>
                        <td class="num">{l.endpoints}</td>
                        <td class="num">{l.succeeded}</td>
                        <td class="num">{l.failed}</td>
                        <td>{share}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <section aria-labelledby="labels-heading">
                <h2 id="labels-heading">"Success by endpoint label, last 24 h"</h2>
                <div class="table-wrap">
                    <table>
                        <caption class="sr-only">"Deliveries by endpoint label"</caption>
                        <thead>
                            <tr>
                                <th scope="col">"Label"</th>
                                <th scope="col" class="num">"Endpoints"</th>
                                <th scope="col" class="num">"Succeeded"</th>
                                <th scope="col" class="num">"Failed"</th>
                                <th scope="col">"Success"</th>
                            </tr>
                        </thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
            </section>
        }
    })
}
