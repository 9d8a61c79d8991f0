//! The node's status: version, database, readiness and delivery counters. For admins
//! and support; anyone else is sent to sign in.

use crate::error::AppError;
use leptos::prelude::*;
use leptos_router::components::{Redirect, A};
use serde::{Deserialize, Serialize};

use crate::auth::error_text;

use sluice_core::model::NodeStatus;

/// What the home page shows: operators the node and the tenants; a partner goes
/// straight to their own delivery log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StatusView {
    /// The node, and (id, name) of the first tenants.
    Shown(NodeStatus, Vec<(String, String)>),
    Partner(String),
    SignInFirst,
}

/// Reads the node's status from the engine. Operators only: it spans every tenant.
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
    let node = ctx.sluice.node_status(&caller.operator()?).await?;
    let tenants = ctx.sluice.list_tenants(&caller, Some(250), None).await?;
    let tenants = tenants.data.into_iter().map(|t| (t.id.to_string(), t.name)).collect();
    Ok(StatusView::Shown(node, tenants))
}

#[component]
pub fn StatusPage() -> impl IntoView {
    let refreshes = RwSignal::new(0u32);
    let status = Resource::new(move || refreshes.get(), |_| get_node_status());
    // Set only in the browser after hydration: tests and people can tell the wasm ran.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    view! {
        <h1>"Node status"</h1>
        <p class="mb-6 text-slate-600">"Webhook delivery that survives bursts."</p>
        <section aria-label="Node status" class="card">
            <Suspense fallback=|| view! { <p>"Loading status…"</p> }>
                {move || {
                    status
                        .get()
                        .map(|r| match r {
                            Ok(StatusView::Shown(s, tenants)) => {
                                view! {
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
                                }
                                    .into_any()
                            }
                            Ok(StatusView::Partner(tenant)) => {
                                view! { <Redirect path=format!("/tenants/{tenant}/deliveries")/> }.into_any()
                            }
                            Ok(StatusView::SignInFirst) => view! { <Redirect path="/sign-in"/> }.into_any(),
                            Err(e) => view! { <p role="alert">"Status unavailable: " {error_text(&e)}</p> }.into_any(),
                        })
                }}
            </Suspense>
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
