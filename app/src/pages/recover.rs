//! Recover: replay everything that failed for an endpoint, or for every endpoint of
//! the tenant (`/tenants/{tenant}/recover`), since a time (of one event type or error
//! class, if chosen; counted first, if asked), as an operation whose progress the
//! page follows live and which can be cancelled.

use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use sluice_core::model::Operation;

use crate::auth::{error_text, PageViewer};

/// What the recover form answers: the operation it started, or how many deliveries
/// it would re-queue (when only counting).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RecoverStarted {
    Operation(String),
    WouldRequeue(i64),
}

/// Starts a recover, or only counts it (`dry_run` ticked): of one endpoint, or of
/// every endpoint of the tenant when `endpoint` is empty. `since` is RFC 3339, or
/// what a `datetime-local` input sends (`2026-11-23T12:00`), read as UTC; an empty
/// event type or error class takes all. One argument per field of the form, which is
/// how a server function reads a form posted without JavaScript.
#[allow(clippy::too_many_arguments)]
#[server(endpoint = "start_recover")]
pub async fn start_recover(
    tenant: String,
    endpoint: String,
    since: String,
    event_type: Option<String>,
    error_class: Option<String>,
    dry_run: Option<String>,
    csrf: String,
    idempotency_key: Option<String>,
) -> Result<RecoverStarted, AppError> {
    use crate::auth::ssr::{fingerprint, once, parse_id};
    use sluice_core::model::{ErrorClass, RecoverEndpoint};
    use sluice_engine::service::RecoverAnswer;
    let (ctx, _, caller) = crate::auth::ssr::changing(&csrf).await?;
    let scope = caller.tenant_act(&parse_id(&tenant)?)?;
    let endpoint_id = match endpoint.trim() {
        "" => None,
        id => Some(parse_id(id)?),
    };
    let event_type = event_type.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    let error_class = match error_class.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(ErrorClass::parse(c).ok_or_else(|| {
            AppError::new(sluice_core::ErrorCode::ValidationFailed, format!("error class: {c:?} is not one"))
        })?),
    };
    let dry_run = dry_run.is_some();
    let request = fingerprint(&(&tenant, &endpoint, &since, &event_type, &error_class, dry_run))?;
    let req = RecoverEndpoint {
        since: crate::pages::form_time_as_rfc3339(&since),
        event_type,
        error_class,
        dry_run,
        until: None,
    };
    let act = async move {
        let answer = match &endpoint_id {
            Some(endpoint_id) => ctx.sluice.recover_endpoint(&scope, endpoint_id, req).await?,
            None => ctx.sluice.recover_tenant(&scope, req).await?,
        };
        Ok(match answer {
            RecoverAnswer::Started(op) => RecoverStarted::Operation(op.id.to_string()),
            RecoverAnswer::DryRun(p) => RecoverStarted::WouldRequeue(p.deliveries),
        })
    };
    once(&caller, "start_recover", idempotency_key.as_deref(), request, act).await
}

/// Cancels a recover started here.
#[server(endpoint = "cancel_recover")]
pub async fn cancel_recover(operation: String, csrf: String) -> Result<Operation, AppError> {
    use crate::auth::ssr::parse_id;
    let (ctx, _, caller) = crate::auth::ssr::changing(&csrf).await?;
    ctx.sluice.cancel_operation(&caller, &parse_id(&operation)?).await.map_err(AppError::from)
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
    let cancel = ServerAction::<CancelRecover>::new();
    let tick = crate::pages::refresh_tick(1);
    let started = move || match start.value().get() {
        Some(Ok(RecoverStarted::Operation(op))) => Some(op),
        _ => None,
    };
    let counted = move || match start.value().get() {
        Some(Ok(RecoverStarted::WouldRequeue(n))) => {
            let text = format!("{n} failed deliveries match; nothing was re-queued.");
            Some(view! { <p role="status" data-testid="dry-run">{text}</p> })
        }
        _ => None,
    };
    let progress = Resource::new(
        move || (started(), tick.get(), cancel.version().get()),
        |(op, _, _)| async move {
            match op {
                Some(op) => load_operation(op).await.map(Some),
                None => Ok(None),
            }
        },
    );
    let back = move || format!("/tenants/{}/endpoints", tenant());
    let which = move || {
        if endpoint().is_empty() {
            "Replays every delivery to any of this tenant's endpoints that failed since the time you choose, "
        } else {
            "Replays every delivery to this endpoint that failed since the time you choose, "
        }
    };
    view! {
        <Title text="Recover · Sluice"/>
        <p><A href=back>"← Endpoints"</A></p>
        <h1>{move || if endpoint().is_empty() { "Recover failed deliveries of every endpoint" } else { "Recover failed deliveries" }}</h1>
        <p class="mb-6 text-slate-600">
            {which}
            "of one event type or error class if you choose one. Count first to see how many."
        </p>
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
                        <div class="field">
                            <label for="event-type">"Event type (empty: all)"</label>
                            <input id="event-type" name="event_type"/>
                        </div>
                        <div class="field">
                            <label for="error-class">"Last error"</label>
                            <select id="error-class" name="error_class">
                                <option value="">"Any"</option>
                                {ERROR_CLASSES
                                    .iter()
                                    .map(|c| view! { <option value=c.as_str()>{c.as_str().replace('_', " ")}</option> })
                                    .collect_view()}
                            </select>
                        </div>
                        <label class="row">
                            <input type="checkbox" name="dry_run" value="on"/>
                            "Only count them (change nothing)"
                        </label>
                        <button type="submit" disabled=move || start.pending().get()>"Recover"</button>
                    </ActionForm>
                }
                    .into_any()
            }}
        </Suspense>
        {move || start.value().get().and_then(Result::err).map(|e| view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> })}
        {counted}
        {move || cancel.value().get().and_then(Result::err).map(|e| view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> })}
        <Suspense fallback=|| ()>
            {move || {
                progress
                    .get()
                    .map(|r| match r {
                        Ok(Some(op)) => {
                            let csrf = PageViewer::of(viewer.get()).csrf();
                            view! { <ProgressView op csrf cancel/> }.into_any()
                        }
                        Ok(None) => ().into_any(),
                        Err(e) => view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

/// The classes a recover can be limited to, in the order people look for them.
const ERROR_CLASSES: [sluice_core::model::ErrorClass; 11] = {
    use sluice_core::model::ErrorClass::*;
    [Timeout, Connect, Dns, Tls, Http5xx, Http429, Http4xx, Http410, Http3xx, BlockedTarget, Other]
};

#[component]
fn ProgressView(op: Operation, csrf: String, cancel: ServerAction<CancelRecover>) -> impl IntoView {
    let running = op.state == "running";
    let id = op.id.to_string();
    let stop = running.then(move || {
        view! {
            <ActionForm action=cancel>
                <input type="hidden" name="operation" value=id/>
                <input type="hidden" name="csrf" value=csrf/>
                <button type="submit" class="secondary" disabled=move || cancel.pending().get()>"Cancel recover"</button>
            </ActionForm>
        }
    });
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
            {stop}
        </section>
    }
}
