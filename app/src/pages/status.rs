//! The node's status: version, database, readiness and delivery counters. For admins
//! and support; anyone else is sent to sign in.

use crate::error::AppError;
use leptos::prelude::*;
use leptos_router::components::{Redirect, A};
use serde::{Deserialize, Serialize};

use crate::auth::error_text;

use sluice_core::canary::CanaryStatus;
use sluice_core::live::LiveOperations;
use sluice_core::model::{IncidentStats, NodeInfo, NodeState, NodeStatus};

/// What the operations page shows an operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationsHome {
    pub node: NodeStatus,
    /// Every node sharing the database.
    pub nodes: Vec<NodeInfo>,
    /// (id, name) of the first tenants.
    pub tenants: Vec<(String, String)>,
    /// Every tenant's time to detect and recover.
    pub incidents: IncidentStats,
    pub canary: CanaryStatus,
    pub live: LiveOperations,
}

/// What the home page shows: operators the live operations page; a partner goes
/// straight to their own delivery log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StatusView {
    Shown(Box<OperationsHome>),
    Partner(String),
    SignInFirst,
}

/// Reads the operations page from the engine. Operators only: it spans every tenant.
#[server(endpoint = "get_node_status")]
pub async fn get_node_status() -> Result<StatusView, AppError> {
    let ctx = crate::auth::ssr::context()?;
    let Some(session) = crate::auth::ssr::session().await? else {
        return Ok(StatusView::SignInFirst);
    };
    let caller = session.caller();
    if let sluice_engine::Caller::Tenant { tenant, .. } = &caller {
        return Ok(StatusView::Partner(tenant.to_string()));
    }
    let operator = caller.operator()?;
    let sluice = &ctx.sluice;
    let tenants = sluice.list_tenants(&caller, Some(250), None).await?;
    Ok(StatusView::Shown(Box::new(OperationsHome {
        node: sluice.node_status(&operator).await?,
        nodes: sluice.list_nodes(&operator, sluice.node_id(), sluice_engine::ids::now_ms()).await?,
        tenants: tenants.data.into_iter().map(|t| (t.id.to_string(), t.name)).collect(),
        incidents: sluice.incident_stats(sluice_engine::Reach::AllTenants(&operator)).await?,
        canary: sluice.canary_status(&operator).await?,
        live: sluice.live_operations(&operator).await?,
    })))
}

/// Every node sharing the database, as their heartbeats tell.
#[component]
fn NodeTable(nodes: Vec<NodeInfo>) -> impl IntoView {
    let rows = nodes
        .into_iter()
        .map(|n| {
            let state = match n.state {
                NodeState::Live => "live",
                NodeState::Gone => "gone (no heartbeat)",
                NodeState::Stopped => "stopped",
            };
            let id = if n.this_node { format!("{} (this node)", n.id) } else { n.id };
            view! {
                <tr data-testid="node">
                    <td>{id}</td>
                    <td>{n.version}</td>
                    <td>{state}</td>
                    <td>{crate::pages::when(&n.started_at)}</td>
                    <td>{crate::pages::when(&n.last_heartbeat_at)}</td>
                    <td>{n.in_flight}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <h2>"Nodes"</h2>
        <div class="table-wrap">
        <table>
            <caption class="sr-only">"Nodes sharing the database"</caption>
            <thead>
                <tr>
                    <th scope="col">"Node"</th>
                    <th scope="col">"Version"</th>
                    <th scope="col">"State"</th>
                    <th scope="col">"Started"</th>
                    <th scope="col">"Last heartbeat"</th>
                    <th scope="col">"In flight"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
        </div>
    }
}

#[component]
pub fn StatusPage() -> impl IntoView {
    let refreshes = RwSignal::new(0u32);
    // Live: read again every 15 s while the page is open in a browser.
    let tick = crate::pages::refresh_tick(15);
    let status = Resource::new(move || (refreshes.get(), tick.get()), |_| get_node_status());
    // Set only in the browser after hydration: tests and people can tell the wasm ran.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    view! {
        <h1>"Operations"</h1>
        <p class="mb-6 text-slate-600">"Webhook delivery that survives bursts: every tenant, every node, now."</p>
        <Suspense fallback=|| view! { <p>"Loading status…"</p> }>
            {move || {
                status
                    .get()
                    .map(|r| match r {
                        Ok(StatusView::Shown(home)) => view! { <Home home=*home/> }.into_any(),
                        Ok(StatusView::Partner(tenant)) => {
                            view! { <Redirect path=format!("/tenants/{tenant}/deliveries")/> }.into_any()
                        }
                        Ok(StatusView::SignInFirst) => view! { <Redirect path="/sign-in"/> }.into_any(),
                        Err(e) => view! { <p role="alert">"Status unavailable: " {error_text(&e)}</p> }.into_any(),
                    })
            }}
        </Suspense>
        <section aria-label="Refresh" class="card">
            <button
                type="button"
                disabled=move || !hydrated.get()
                on:click=move |_| refreshes.update(|n| *n += 1)
            >
                "Refresh"
            </button>
            <p class="text-sm text-slate-500" data-testid="refreshes">
                {move || format!("Refreshed {} times", refreshes.get())}
            </p>
        </section>
        <p>"The REST API lives under " <code>"/v1"</code> "; see README for a first request."</p>
    }
}

/// The operations page's sections, once loaded.
#[component]
fn Home(home: OperationsHome) -> impl IntoView {
    let OperationsHome { node: s, nodes, tenants, incidents, canary, live } = home;
    // Each section erased to `AnyView`: one nested type for the whole page passes
    // the compiler's query depth limit.
    let live = view! {
        <section aria-label="Live" class="card">
            <crate::pages::live::LiveSections live/>
        </section>
    }
    .into_any();
    let canary = view! {
        <section aria-label="Canary" class="card">
            <crate::pages::canary::CanaryCard status=canary/>
        </section>
    }
    .into_any();
    let node = view! {
        <section aria-label="Node status" class="card">
            <h2>"This node"</h2>
            <dl class="facts">
                <dt>"Version"</dt>
                <dd>{s.version}</dd>
                <dt>"Database"</dt>
                <dd>{s.backend}</dd>
                <dt>"Ready"</dt>
                <dd>{if s.ready { "yes" } else { "no" }}</dd>
                <dt>"Attempts"</dt>
                <dd data-testid="attempts">{s.attempts}</dd>
                <dt>"Succeeded"</dt>
                <dd>{s.succeeded}</dd>
                <dt>"In flight"</dt>
                <dd>{s.in_flight}</dd>
            </dl>
            <NodeTable nodes/>
        </section>
    }
    .into_any();
    let tenants = view! {
        <section aria-label="Incidents and tenants" class="card">
            <h2>"Incidents, every tenant"</h2>
            <crate::pages::incidents::IncidentTimesTable stats=incidents/>
            <p><A href="/triage">"Open incidents, worst first"</A></p>
            <h2>"Tenants"</h2>
            <ul class="list-disc pl-5">
                {tenants
                    .into_iter()
                    .map(|(id, name)| {
                        let href = format!("/tenants/{id}/deliveries");
                        view! { <li><A href=href>{name}</A></li> }
                    })
                    .collect_view()}
            </ul>
        </section>
    }
    .into_any();
    view! { {live} {canary} {node} {tenants} }
}
