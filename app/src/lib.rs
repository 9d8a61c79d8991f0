//! The Sluice dashboard, rendered on the server and hydrated in the browser.
//!
//! Pages are server-rendered in full (`SsrMode::Async`), so they read fine with
//! JavaScript disabled; hydration adds in-place actions and refresh. Server functions
//! are thin: they find the session, turn it into a `Caller` and call the same engine
//! service the REST API calls.

pub mod auth;
mod charts;
pub mod error;
mod pages;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::{ParamSegment, SsrMode, StaticSegment};
use sluice_core::model::Role;

#[cfg(feature = "ssr")]
pub use auth::ssr;

/// The HTML document around every page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    set_content_security_policy();
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

/// The page's Content-Security-Policy, as a response header: scripts only from this
/// origin or inline with this response's nonce (Leptos puts it on the hydration
/// scripts it writes), wasm allowed to compile, inline styles only as attributes (the
/// charts' bar widths), never framed.
#[cfg(feature = "ssr")]
fn set_content_security_policy() {
    use axum::http::{header, HeaderValue};
    let Some(nonce) = leptos::nonce::use_nonce() else {
        return;
    };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; style-src-attr 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    );
    if let (Some(response), Ok(value)) = (use_context::<leptos_axum::ResponseOptions>(), HeaderValue::from_str(&policy))
    {
        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="sluice" href="/pkg/sluice.css"/>
        <Title text="Sluice"/>
        <Router>
            <header class="flex flex-wrap items-center justify-between gap-4 bg-slate-900 px-4 py-2 text-slate-200">
                <A href="/" attr:class="font-semibold text-white no-underline">"Sluice"</A>
                <ViewerBar/>
            </header>
            <main class="mx-auto max-w-4xl px-2 py-4 sm:px-4 sm:py-8">
                <Routes fallback=|| view! { <p>"Page not found."</p> }>
                    <Route path=StaticSegment("") view=pages::status::StatusPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("sign-in") view=pages::sign_in::SignInPage ssr=SsrMode::Async/>
                    <Route
                        path=(StaticSegment("portal"), ParamSegment("token"))
                        view=pages::portal::PortalPage
                        ssr=SsrMode::Async
                    />
                    <Route path=StaticSegment("triage") view=pages::triage::TriagePage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("users") view=pages::admin::UsersPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("account") view=pages::account::AccountPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("audit") view=pages::audit::AuditPage ssr=SsrMode::Async/>
                    <Route
                        path=(StaticSegment("tenants"), ParamSegment("tenant"), StaticSegment("audit"))
                        view=pages::audit::AuditPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=(StaticSegment("tenants"), ParamSegment("tenant"), StaticSegment("recover"))
                        view=pages::recover::RecoverPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=(StaticSegment("tenants"), ParamSegment("tenant"), StaticSegment("incidents"))
                        view=pages::incidents::IncidentsPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=(StaticSegment("tenants"), ParamSegment("tenant"), StaticSegment("activity"))
                        view=pages::activity::ActivityPage
                        ssr=SsrMode::Async
                    />
                    <Route path=StaticSegment("api-keys") view=pages::keys::ApiKeysPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("tiers") view=pages::tiers::TiersPage ssr=SsrMode::Async/>
                    <Route
                        path=(StaticSegment("tenants"), ParamSegment("tenant"))
                        view=pages::overview::OverviewPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=(StaticSegment("tenants"), ParamSegment("tenant"), StaticSegment("deliveries"))
                        view=pages::deliveries::DeliveriesPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=(StaticSegment("tenants"), ParamSegment("tenant"), StaticSegment("endpoints"))
                        view=pages::endpoints::EndpointsPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=(
                            StaticSegment("tenants"),
                            ParamSegment("tenant"),
                            StaticSegment("endpoints"),
                            ParamSegment("endpoint"),
                        )
                        view=pages::endpoint_edit::EndpointEditPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=(
                            StaticSegment("tenants"),
                            ParamSegment("tenant"),
                            StaticSegment("endpoints"),
                            ParamSegment("endpoint"),
                            StaticSegment("recover"),
                        )
                        view=pages::recover::RecoverPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=(
                            StaticSegment("tenants"),
                            ParamSegment("tenant"),
                            StaticSegment("messages"),
                            ParamSegment("message"),
                        )
                        view=pages::message::MessagePage
                        ssr=SsrMode::Async
                    />
                </Routes>
            </main>
        </Router>
    }
}

/// Who is signed in, and the sign-out button; nothing when nobody is.
#[component]
fn ViewerBar() -> impl IntoView {
    // Read again on every navigation: signing in or out navigates, and this bar lives
    // outside the routes, so it would otherwise keep showing the previous viewer.
    let location = leptos_router::hooks::use_location();
    let viewer = Resource::new(move || location.pathname.get(), |_| auth::current_viewer());
    let sign_out = ServerAction::<auth::SignOut>::new();
    view! {
        <Suspense fallback=|| ()>
            {move || {
                viewer
                    .get()
                    .and_then(Result::ok)
                    .flatten()
                    .map(|v| {
                        view! {
                            <div class="viewer flex flex-wrap items-center gap-3 text-sm">
                                {(v.role != Role::Partner).then(|| view! { <A href="/triage">"Triage"</A> })}
                                {(v.role == Role::Admin).then(|| view! { <A href="/tiers">"Tenants"</A> <A href="/users">"Users"</A> <A href="/api-keys">"API keys"</A> <A href="/audit">"Audit"</A> })}
                                {v.tenant_id.clone().filter(|_| v.role == Role::Partner && !v.read_only).map(|t| view! { <A href=format!("/tenants/{t}/audit")>"Audit"</A> })}
                                <A href="/account" attr:data-testid="viewer">{v.email.clone()} " · " {v.role.as_str()} {v.read_only.then_some(" · read-only")}</A>
                                <ActionForm action=sign_out>
                                    <input type="hidden" name="csrf" value=v.csrf_token.clone()/>
                                    <button type="submit" class="secondary">"Sign out"</button>
                                </ActionForm>
                            </div>
                        }
                    })
            }}
        </Suspense>
    }
}
