//! Recover: replay everything that failed for an endpoint since a time, as an
//! operation whose progress the page follows live.

use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use sluice_core::model::Operation;

use crate::auth::{error_text, PageViewer};

/// Starts a recover. `since` is RFC 3339, or what a `datetime-local` input sends
/// (`2026-11-23T12:00`), read as UTC.
#[server(endpoint = "start_recover")]
pub async fn start_recover(
    tenant: String,
    endpoint: String,
    since: String,
    csrf: String,
    idempotency_key: Option<String>,
) -> Result<String, AppError> {
    use crate::auth::ssr::{fingerprint, once, parse_id};
    use sluice_core::model::RecoverEndpoint;
    let (ctx, _, caller) = crate::auth::ssr::changing(&csrf).await?;
    let (scope, endpoint_id) = (caller.tenant_act(&parse_id(&tenant)?)?, parse_id(&endpoint)?);
    let request = fingerprint(&(&tenant, &endpoint, &since))?;
    let req = RecoverEndpoint { since: crate::pages::form_time_as_rfc3339(&since), until: None };
    let act = async move { Ok(ctx.sluice.recover_endpoint(&scope, &endpoint_id, req).await?.id.to_string()) };
    once(&caller, "start_recover", idempotency_key.as_deref(), request, act).await
}

#[server(endpoint = "load_operation")]
pub async fn load_operation(operation: String) -> Result<Operation, AppError> {
    use crate::auth::ssr::parse_id;
    let (ctx, _, caller) = crate::auth::ssr::reading().await?;
    ctx.sluice.get_operation(&caller, &parse_id(&operation)?).await.map_err(AppError::from)
}

#[component]
pub fn RecoverPage() -> impl IntoView {
    let params = use_params_map();
    let tenant = move || params.read().get("tenant").unwrap_or_default();
    let endpoint = move || params.read().get("endpoint").unwrap_or_default();
    let viewer = Resource::new(|| (), |_| crate::auth::current_viewer());
    let start = ServerAction::<StartRecover>::new();
    let tick = crate::pages::refresh_tick(1);
    let started = move || start.value().get().and_then(Result::ok);
    let progress = Resource::new(
        move || (started(), tick.get()),
        |(op, _)| async move {
            match op {
                Some(op) => load_operation(op).await.map(Some),
                None => Ok(None),
            }
        },
    );
    let back = move || format!("/tenants/{}/endpoints", tenant());
    view! {
        <Title text="Recover · Sluice"/>
        <p><A href=back>"← Endpoints"</A></p>
        <h1>"Recover failed deliveries"</h1>
        <p class="mb-6 text-slate-600">"Replays every delivery to this endpoint that failed since the time you choose."</p>
        <Suspense fallback=|| ()>
            {move || {
                let v = PageViewer::of(viewer.get());
                if v.read_only() {
                    return view! {
                        <p class="card" data-testid="read-only-note">
                            "This session is read-only: it can show the failed deliveries but not queue them again."
                        </p>
                    }
                        .into_any();
                }
                let nonce = v.nonce();
                let csrf = v.csrf();
                view! {
                    <ActionForm action=start>
                        <input type="hidden" name="tenant" value=tenant()/>
                        <input type="hidden" name="endpoint" value=endpoint()/>
                        <input type="hidden" name="csrf" value=csrf/>
                        <crate::pages::SubmissionKey nonce form="start_recover".into() completed=start.version()/>
                        <div class="field">
                            <label for="since">"Failed since (UTC)"</label>
                            <input id="since" name="since" type="datetime-local" required/>
                        </div>
                        <button type="submit" disabled=move || start.pending().get()>"Recover"</button>
                    </ActionForm>
                }
                    .into_any()
            }}
        </Suspense>
        {move || start.value().get().and_then(Result::err).map(|e| view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> })}
        <Suspense fallback=|| ()>
            {move || {
                progress
                    .get()
                    .map(|r| match r {
                        Ok(Some(op)) => view! { <ProgressView op/> }.into_any(),
                        Ok(None) => ().into_any(),
                        Err(e) => view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

#[component]
fn ProgressView(op: Operation) -> impl IntoView {
    let finished = op.succeeded + op.failed;
    let summary =
        format!("{} of {} delivered · {} pending · {} failed again", op.succeeded, op.total, op.pending, op.failed);
    view! {
        <section class="card" aria-labelledby="op-heading" data-testid="operation">
            <h2 id="op-heading">"Operation " <code>{op.id.to_string()}</code></h2>
            <p>
                "State: " <strong data-testid="operation-state">{op.state.clone()}</strong>
            </p>
            <progress aria-label="Recover progress" max=op.total.max(1) value=finished></progress>
            <p data-testid="operation-summary">{summary}</p>
        </section>
    }
}
