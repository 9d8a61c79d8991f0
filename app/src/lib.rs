//! The Sluice dashboard, rendered on the server and hydrated in the browser.
//!
//! For now one page: the node's status, read through a server function that calls the
//! engine, with a refresh button that only works once the wasm bundle has hydrated the
//! page. The partner, support and admin pages build on this shell.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{SsrMode, StaticSegment};
use serde::{Deserialize, Serialize};

/// The HTML document around every page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="data:,"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="sluice" href="/pkg/sluice.css"/>
        <Title text="Sluice"/>
        <Router>
            <main class="page">
                <Routes fallback=|| view! { <p>"Page not found."</p> }>
                    // Async: the whole page is in the first response, so it reads
                    // fine with JavaScript disabled.
                    <Route path=StaticSegment("") view=StatusPage ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}

/// What the status page shows about this node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub version: String,
    pub backend: String,
    pub ready: bool,
    pub attempts: u64,
    pub succeeded: u64,
    pub in_flight: u64,
}

/// Reads the node's status from the engine.
#[server]
pub async fn get_node_status() -> Result<NodeStatus, ServerFnError> {
    use std::sync::atomic::Ordering;
    let ctx = expect_context::<ssr::DashboardContext>();
    let ready = ctx.sluice.ready().await.is_ok();
    Ok(NodeStatus {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        backend: format!("{:?}", ctx.sluice.store().backend()),
        ready,
        attempts: ctx.stats.attempts.load(Ordering::Relaxed),
        succeeded: ctx.stats.succeeded.load(Ordering::Relaxed),
        in_flight: ctx.stats.in_flight.load(Ordering::Relaxed),
    })
}

#[component]
fn StatusPage() -> impl IntoView {
    let refreshes = RwSignal::new(0u32);
    let status = Resource::new(move || refreshes.get(), |_| get_node_status());
    // Set only in the browser after hydration: tests and people can tell the wasm ran.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    view! {
        <h1>"Sluice"</h1>
        <p class="lede">"Webhook delivery that survives bursts."</p>
        <section aria-label="Node status" class="card">
            <Suspense fallback=|| view! { <p>"Loading status…"</p> }>
                {move || {
                    status
                        .get()
                        .map(|r| match r {
                            Ok(s) => {
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
                                }
                                    .into_any()
                            }
                            Err(e) => view! { <p role="alert">"Status unavailable: " {e.to_string()}</p> }.into_any(),
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
            <p class="hint" data-testid="refreshes">
                {move || format!("Refreshed {} times", refreshes.get())}
            </p>
        </section>
        <p>"The REST API lives under " <code>"/v1"</code> "; see README for a first request."</p>
    }
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Server-side context the server functions read.
    use std::sync::Arc;

    #[derive(Clone)]
    pub struct DashboardContext {
        pub sluice: Arc<sluice_engine::Sluice>,
        pub stats: Arc<sluice_engine::delivery::Stats>,
    }
}
