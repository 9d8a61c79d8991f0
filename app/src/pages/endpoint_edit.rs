//! One endpoint's page: edit with stale-edit detection (if someone changed the
//! endpoint since the form was loaded, the edit is refused and their version is shown,
//! never silently overwritten), its signing secrets (reveal, rotate) and a test event.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};
use sluice_core::model::Endpoint;

use crate::auth::{error_text, PageViewer};
use crate::error::AppError;

#[server(endpoint = "load_endpoint")]
pub async fn load_endpoint(tenant: String, endpoint: String) -> Result<Endpoint, AppError> {
    use crate::auth::ssr::parse_id;
    let (ctx, _, caller) = crate::auth::ssr::reading().await?;
    ctx.sluice.get_endpoint(&caller.tenant(&parse_id(&tenant)?)?, &parse_id(&endpoint)?).await.map_err(AppError::from)
}

/// What saving an edit came to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum EditOutcome {
    Saved(Endpoint),
    /// Someone saved a change after this form was loaded; nothing was written.
    Conflict(Endpoint),
}

/// Saves an edit made against `version`; refuses if the endpoint has moved on.
// A form's fields are flat arguments (see ARCHITECTURE.md), one per input.
#[allow(clippy::too_many_arguments)]
#[server(endpoint = "edit_endpoint")]
pub async fn edit_endpoint(
    tenant: String,
    endpoint: String,
    version: i64,
    url: String,
    description: Option<String>,
    event_types: Option<String>,
    labels: Option<String>,
    csrf: String,
) -> Result<EditOutcome, AppError> {
    use super::endpoints::{split_labels, split_types};
    use crate::auth::ssr::parse_id;
    use sluice_core::model::PatchEndpoint;
    let (ctx, _, caller) = crate::auth::ssr::changing(&csrf).await?;
    let (tenant, endpoint) = (caller.tenant_manage(&parse_id(&tenant)?)?, parse_id(&endpoint)?);
    let patch = PatchEndpoint {
        url: Some(url),
        description: Some(description.unwrap_or_default()),
        event_types: Some(split_types(event_types.as_deref().unwrap_or(""))),
        // A form from before labels existed sends none: they stay as they are.
        labels: labels.as_deref().map(split_labels),
        ..Default::default()
    };
    match ctx.sluice.patch_endpoint(&tenant, &endpoint, Some(version), patch).await {
        Ok(e) => Ok(EditOutcome::Saved(e)),
        Err(sluice_engine::Error::PreconditionFailed { .. }) => {
            let theirs = ctx.sluice.get_endpoint(&tenant, &endpoint).await?;
            Ok(EditOutcome::Conflict(theirs))
        }
        Err(e) => Err(AppError::from(e)),
    }
}

/// One signing secret as the secrets panel shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretView {
    pub key: String,
    /// `None` for the active secret.
    pub valid_until: Option<chrono::DateTime<chrono::Utc>>,
}

#[cfg(feature = "ssr")]
fn secret_views(s: sluice_core::model::EndpointSecrets) -> Vec<SecretView> {
    std::iter::once(SecretView { key: s.key, valid_until: None })
        .chain(s.previous.into_iter().map(|p| SecretView { key: p.key, valid_until: p.expires_at }))
        .collect()
}

/// Shows the endpoint's signing secrets. A POST with the CSRF token, not a page load:
/// revealing is recorded as a lifecycle event, so it must be a deliberate act.
#[server(endpoint = "reveal_secrets")]
pub async fn reveal_secrets(tenant: String, endpoint: String, csrf: String) -> Result<Vec<SecretView>, AppError> {
    use crate::auth::ssr::parse_id;
    let (ctx, _, caller) = crate::auth::ssr::changing(&csrf).await?;
    let secrets = ctx.sluice.endpoint_secrets(&caller.tenant_manage(&parse_id(&tenant)?)?, &parse_id(&endpoint)?).await;
    Ok(secret_views(secrets?))
}

/// Rotates the signing secret; the old one keeps signing for the grace period.
#[server(endpoint = "rotate_secret")]
pub async fn rotate_secret(
    tenant: String,
    endpoint: String,
    grace_period_seconds: u32,
    csrf: String,
    idempotency_key: Option<String>,
) -> Result<Vec<SecretView>, AppError> {
    use crate::auth::ssr::{fingerprint, once, parse_id};
    use sluice_core::model::RotateSecret;
    let (ctx, _, caller) = crate::auth::ssr::changing(&csrf).await?;
    let (scope, endpoint_id) = (caller.tenant_manage(&parse_id(&tenant)?)?, parse_id(&endpoint)?);
    let request = fingerprint(&(&tenant, &endpoint, grace_period_seconds))?;
    let act = async move {
        let req = RotateSecret { grace_period_seconds: Some(grace_period_seconds), ..Default::default() };
        Ok(secret_views(ctx.sluice.rotate_secret(&scope, &endpoint_id, req).await?))
    };
    once(&caller, "rotate_secret", idempotency_key.as_deref(), request, act).await
}

/// Sends a `sluice.test` event to this endpoint only; returns the message id.
#[server(endpoint = "send_test")]
pub async fn send_test(
    tenant: String,
    endpoint: String,
    csrf: String,
    idempotency_key: Option<String>,
) -> Result<String, AppError> {
    use crate::auth::ssr::{fingerprint, once, parse_id};
    let (ctx, _, caller) = crate::auth::ssr::changing(&csrf).await?;
    let (scope, endpoint_id) = (caller.tenant_act(&parse_id(&tenant)?)?, parse_id(&endpoint)?);
    let request = fingerprint(&(&tenant, &endpoint))?;
    let act = async move { Ok(ctx.sluice.send_test_event(&scope, &endpoint_id).await?.id.to_string()) };
    once(&caller, "send_test", idempotency_key.as_deref(), request, act).await
}

#[component]
pub fn EndpointEditPage() -> impl IntoView {
    let params = use_params_map();
    let tenant = move || params.read().get("tenant").unwrap_or_default();
    let endpoint = move || params.read().get("endpoint").unwrap_or_default();
    let viewer = Resource::new(|| (), |_| crate::auth::current_viewer());
    let save = ServerAction::<EditEndpoint>::new();
    // Loaded once per visit, deliberately not refreshed: the form edits this version.
    let loaded = Resource::new(move || (tenant(), endpoint()), |(t, e)| load_endpoint(t, e));
    view! {
        <Title text="Edit endpoint · Sluice"/>
        <Suspense fallback=|| view! { <p>"Loading endpoint…"</p> }>
            {move || {
                let v = PageViewer::of(viewer.get());
                let can_change = v.changes_endpoints();
                let read_only = v.read_only();
                let nonce = v.nonce();
                let csrf = v.csrf();
                loaded
                    .get()
                    .map(|r| match r {
                        Ok(e) => {
                            let secrets = can_change.then(|| {
                                view! {
                                    <SecretsPanel
                                        tenant=e.tenant_id.to_string()
                                        endpoint=e.id.to_string()
                                        csrf=csrf.clone()
                                        nonce=nonce.clone()
                                    />
                                }
                            });
                            let test = (!read_only).then(|| view! {
                                <TestEventPanel
                                    tenant=e.tenant_id.to_string()
                                    endpoint=e.id.to_string()
                                    csrf=csrf.clone()
                                    nonce=nonce.clone()
                                />
                            });
                            let edit = if read_only {
                                view! {
                                    <h1>"Endpoint"</h1>
                                    <p class="url">{e.url.clone()}</p>
                                    <p class="card" data-testid="read-only-note">
                                        "This session is read-only: it shows the endpoint and its deliveries and changes nothing."
                                    </p>
                                }
                                    .into_any()
                            } else if !can_change {
                                view! {
                                    <h1>"Endpoint"</h1>
                                    <p class="url">{e.url.clone()}</p>
                                    <p class="card" data-testid="support-note">
                                        "Support can send a test event and recover failed deliveries here; changing this endpoint is for the tenant or an admin."
                                    </p>
                                }
                                    .into_any()
                            } else {
                                view! { <EditForm e csrf save/> }.into_any()
                            };
                            view! {
                                {edit}
                                {test}
                                {secrets}
                            }
                                .into_any()
                        }
                        Err(e) => view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

#[component]
fn EditForm(e: Endpoint, csrf: String, save: ServerAction<EditEndpoint>) -> impl IntoView {
    // After a conflict the form continues from *their* version, so the next save is
    // a deliberate decision over what is stored now.
    let version = RwSignal::new(e.version);
    Effect::new(move |_| {
        if let Some(Ok(EditOutcome::Conflict(theirs) | EditOutcome::Saved(theirs))) = save.value().get() {
            version.set(theirs.version);
        }
    });
    let back = format!("/tenants/{}/endpoints", e.tenant_id);
    let result = move || {
        save.value().get().map(|r| match r {
            Ok(EditOutcome::Saved(_)) => view! { <p role="status">"Saved."</p> }.into_any(),
            Ok(EditOutcome::Conflict(theirs)) => view! {
                <div role="alert" class="mt-4 rounded-lg border border-amber-500 bg-amber-50 px-4 py-3">
                    <p>
                        <strong>"Not saved: someone else changed this endpoint while you were editing."</strong>
                    </p>
                    <p>"What is stored now (version " {theirs.version} "):"</p>
                    <dl class="facts" data-testid="theirs">
                        <dt>"URL"</dt>
                        <dd>{theirs.url.clone()}</dd>
                        <dt>"Description"</dt>
                        <dd>{theirs.description.clone()}</dd>
                        <dt>"Event types"</dt>
                        <dd>{if theirs.event_types.is_empty() { "all".to_owned() } else { theirs.event_types.join(", ") }}</dd>
                    </dl>
                    <p>"Your changes are still in the form; save again to replace theirs."</p>
                </div>
            }
            .into_any(),
            Err(err) => view! { <p role="alert" class="text-red-700">{error_text(&err)}</p> }.into_any(),
        })
    };
    view! {
        <p><A href=back>"← Endpoints"</A></p>
        <h1>"Edit endpoint"</h1>
        <ActionForm action=save>
            <input type="hidden" name="tenant" value=e.tenant_id.to_string()/>
            <input type="hidden" name="endpoint" value=e.id.to_string()/>
            <input type="hidden" name="version" prop:value=move || version.get().to_string()/>
            <input type="hidden" name="csrf" value=csrf/>
            <div class="field">
                <label for="edit-url">"URL"</label>
                <input id="edit-url" name="url" type="url" required value=e.url.clone()/>
            </div>
            <div class="field">
                <label for="edit-description">"Description"</label>
                <input id="edit-description" name="description" value=e.description.clone()/>
            </div>
            <div class="field">
                <label for="edit-types">"Event types (comma-separated; empty for all)"</label>
                <input
                    id="edit-types"
                    name="event_types"
                    value=e.event_types.join(", ")
                    aria-describedby="edit-types-hint"
                />
                <crate::pages::EventTypesHint id="edit-types-hint"/>
            </div>
            <div class="field">
                <label for="edit-labels">"Labels (key=value, comma-separated)"</label>
                <input
                    id="edit-labels"
                    name="labels"
                    value=super::endpoints::join_labels(&e.labels)
                    placeholder="kind=erp, region=eu"
                />
            </div>
            <button type="submit">"Save"</button>
        </ActionForm>
        {result}
    }
}

#[component]
fn SecretsPanel(tenant: String, endpoint: String, csrf: String, nonce: String) -> impl IntoView {
    let reveal = ServerAction::<RevealSecrets>::new();
    let rotate = ServerAction::<RotateSecret>::new();
    // Whichever of the two answered last has the current list.
    let rotated_last = RwSignal::new(false);
    Effect::new(move |_| {
        if reveal.value().get().is_some() {
            rotated_last.set(false);
        }
    });
    Effect::new(move |_| {
        if rotate.value().get().is_some() {
            rotated_last.set(true);
        }
    });
    let shown = move || {
        let latest = if rotated_last.get() { rotate.value().get() } else { reveal.value().get() };
        latest.map(|r| match r {
            Ok(secrets) => view! {
                <table data-testid="secrets">
                    <caption class="sr-only">"Signing secrets"</caption>
                    <thead>
                        <tr>
                            <th scope="col">"Secret"</th>
                            <th scope="col">"Valid"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {secrets
                            .into_iter()
                            .map(|s| {
                                let valid = match s.valid_until {
                                    None => "active".to_owned(),
                                    Some(t) => format!("until {}", crate::pages::when(&t)),
                                };
                                view! {
                                    <tr>
                                        <td><code>{s.key}</code></td>
                                        <td>{valid}</td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            }
            .into_any(),
            Err(e) => view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> }.into_any(),
        })
    };
    let (t2, e2, c2) = (tenant.clone(), endpoint.clone(), csrf.clone());
    // One key name per endpoint: the panel's count restarts if the page shows another.
    let rotate_form = format!("rotate_secret.{endpoint}");
    view! {
        <section class="card" aria-labelledby="secrets-heading">
            <h2 id="secrets-heading">"Signing secrets"</h2>
            <p class="text-sm text-slate-500">"Revealing or rotating a secret is recorded with your name."</p>
            <div class="row">
                <ActionForm action=reveal>
                    <input type="hidden" name="tenant" value=tenant/>
                    <input type="hidden" name="endpoint" value=endpoint/>
                    <input type="hidden" name="csrf" value=csrf/>
                    <button type="submit" class="secondary">"Reveal secrets"</button>
                </ActionForm>
                <ActionForm action=rotate>
                    <input type="hidden" name="tenant" value=t2/>
                    <input type="hidden" name="endpoint" value=e2/>
                    <input type="hidden" name="csrf" value=c2/>
                    <crate::pages::SubmissionKey nonce form=rotate_form completed=rotate.version()/>
                    <label for="grace">"Keep the old secret valid for"</label>
                    <select id="grace" name="grace_period_seconds">
                        <option value="3600">"1 hour"</option>
                        <option value="86400" selected=true>"24 hours"</option>
                        <option value="604800">"7 days"</option>
                    </select>
                    <button type="submit" disabled=move || rotate.pending().get()>"Rotate secret"</button>
                </ActionForm>
            </div>
            {shown}
        </section>
    }
}

#[component]
fn TestEventPanel(tenant: String, endpoint: String, csrf: String, nonce: String) -> impl IntoView {
    let send = ServerAction::<SendTest>::new();
    let test_form = format!("send_test.{endpoint}");
    let message_base = format!("/tenants/{tenant}/messages/");
    let result = move || {
        send.value().get().map(|r| match r {
            Ok(id) => {
                let href = format!("{message_base}{id}");
                view! { <p role="status">"Test event queued: " <A href=href>{id}</A></p> }.into_any()
            }
            Err(e) => view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> }.into_any(),
        })
    };
    view! {
        <section class="card" aria-labelledby="test-heading">
            <h2 id="test-heading">"Test event"</h2>
            <p class="text-sm text-slate-500">"Sends a " <code>"sluice.test"</code> " event to this endpoint only."</p>
            <ActionForm action=send>
                <input type="hidden" name="tenant" value=tenant/>
                <input type="hidden" name="endpoint" value=endpoint/>
                <input type="hidden" name="csrf" value=csrf/>
                <crate::pages::SubmissionKey nonce form=test_form completed=send.version()/>
                <button type="submit" class="secondary" disabled=move || send.pending().get()>
                    "Send test event"
                </button>
            </ActionForm>
            {result}
        </section>
    }
}
