//! A tenant's endpoints: health at a glance, create, enable and disable, and edit with
//! stale-edit detection (if someone changed the endpoint since the form was loaded,
//! the edit is refused and their version is shown, never silently overwritten).

use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};
use sluice_core::model::{Endpoint, EndpointStatus};

use crate::auth::{error_text, Viewer};

/// An endpoint with how its recent deliveries went.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EndpointHealth {
    pub endpoint: Endpoint,
    /// Among its deliveries of the last 24 hours.
    pub succeeded: i64,
    pub failed: i64,
    pub last_error: Option<String>,
    /// This node's circuit breaker, when open: (consecutive failures, next probe).
    /// The failures in a row this node saw (`None`: another node opened it) and the
    /// next probe.
    pub circuit_open: Option<(Option<u32>, chrono::DateTime<chrono::Utc>)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EndpointsView {
    pub tenant_name: String,
    pub endpoints: Vec<EndpointHealth>,
}

/// "a, b , c" → ["a", "b", "c"]; empty means every event type.
#[cfg(feature = "ssr")]
fn split_types(raw: &str) -> Vec<String> {
    raw.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect()
}

#[server(endpoint = "load_endpoints")]
pub async fn load_endpoints(tenant: String) -> Result<EndpointsView, AppError> {
    use crate::auth::ssr::parse_id;
    let (ctx, _, caller) = crate::auth::ssr::reading().await?;
    let tenant = parse_id(&tenant)?;
    let scope = caller.tenant(&tenant)?;
    let t = ctx.sluice.get_tenant(&scope).await?;
    let list = ctx.sluice.list_endpoints(&scope, Some(250), None).await?;
    let mut health: std::collections::HashMap<_, _> =
        ctx.sluice.endpoint_health(&scope).await?.into_iter().map(|h| (h.endpoint_id.clone(), h)).collect();
    let endpoints = list
        .data
        .into_iter()
        .map(|endpoint| {
            let h = health.remove(&endpoint.id);
            let last_error = h.as_ref().and_then(|h| match (h.last_response_status, h.last_error_class) {
                (_, None) => None,
                (Some(s), Some(_)) => Some(format!("HTTP {s}")),
                (None, Some(c)) => Some(c.as_str().replace('_', " ")),
            });
            EndpointHealth {
                succeeded: h.as_ref().map_or(0, |h| h.succeeded),
                failed: h.as_ref().map_or(0, |h| h.failed),
                circuit_open: h
                    .and_then(|h| h.circuit_open)
                    .map(|open| (open.consecutive_failures, open.next_probe_at)),
                last_error,
                endpoint,
            }
        })
        .collect();
    Ok(EndpointsView { tenant_name: t.name, endpoints })
}

#[server(endpoint = "create_endpoint")]
pub async fn create_endpoint(
    tenant: String,
    url: String,
    description: Option<String>,
    event_types: Option<String>,
    csrf: String,
    idempotency_key: Option<String>,
) -> Result<String, AppError> {
    use crate::auth::ssr::{fingerprint, once, parse_id};
    use sluice_core::model::CreateEndpoint;
    let (ctx, _, caller) = crate::auth::ssr::changing(&csrf).await?;
    let request = fingerprint(&(&tenant, &url, &description, &event_types))?;
    let act = async {
        let types = split_types(event_types.as_deref().unwrap_or(""));
        let req = CreateEndpoint {
            url: url.clone(),
            description: description.clone().filter(|d| !d.trim().is_empty()),
            event_types: (!types.is_empty()).then_some(types),
            ..Default::default()
        };
        let e = ctx.sluice.create_endpoint(&caller.tenant_manage(&parse_id(&tenant)?)?, req).await?;
        Ok(e.id.to_string())
    };
    once(&caller, "create_endpoint", idempotency_key.as_deref(), request, act).await
}

/// Enables or disables (with a reason that the partner sees) an endpoint.
#[server(endpoint = "set_endpoint_enabled")]
pub async fn set_endpoint_enabled(
    tenant: String,
    endpoint: String,
    enabled: bool,
    csrf: String,
) -> Result<(), AppError> {
    use crate::auth::ssr::parse_id;
    use sluice_core::model::DisableEndpoint;
    let (ctx, session, caller) = crate::auth::ssr::changing(&csrf).await?;
    let (tenant, endpoint) = (caller.tenant_manage(&parse_id(&tenant)?)?, parse_id(&endpoint)?);
    let result = if enabled {
        ctx.sluice.enable_endpoint(&tenant, &endpoint).await
    } else {
        let reason = Some(format!("disabled in the dashboard by {}", session.display_name()));
        ctx.sluice.disable_endpoint(&tenant, &endpoint, DisableEndpoint { reason }).await
    };
    result?;
    Ok(())
}

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
#[server(endpoint = "edit_endpoint")]
pub async fn edit_endpoint(
    tenant: String,
    endpoint: String,
    version: i64,
    url: String,
    description: Option<String>,
    event_types: Option<String>,
    csrf: String,
) -> Result<EditOutcome, AppError> {
    use crate::auth::ssr::parse_id;
    use sluice_core::model::PatchEndpoint;
    let (ctx, _, caller) = crate::auth::ssr::changing(&csrf).await?;
    let (tenant, endpoint) = (caller.tenant_manage(&parse_id(&tenant)?)?, parse_id(&endpoint)?);
    let patch = PatchEndpoint {
        url: Some(url),
        description: Some(description.unwrap_or_default()),
        event_types: Some(split_types(event_types.as_deref().unwrap_or(""))),
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
    let request = fingerprint(&(&tenant, &endpoint, grace_period_seconds))?;
    let act = async {
        let req = RotateSecret { grace_period_seconds: Some(grace_period_seconds), ..Default::default() };
        let secrets =
            ctx.sluice.rotate_secret(&caller.tenant_manage(&parse_id(&tenant)?)?, &parse_id(&endpoint)?, req).await;
        Ok(secret_views(secrets?))
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
    let request = fingerprint(&(&tenant, &endpoint))?;
    let act = async {
        let m = ctx.sluice.send_test_event(&caller.tenant_act(&parse_id(&tenant)?)?, &parse_id(&endpoint)?).await;
        Ok(m?.id.to_string())
    };
    once(&caller, "send_test", idempotency_key.as_deref(), request, act).await
}

/// Whether the viewer may change endpoints: not support, not a read-only session
/// (until the viewer is known, the forms are offered, as they were before roles).
fn changes_endpoints(viewer: &Option<Result<Option<Viewer>, AppError>>) -> bool {
    viewer.clone().and_then(Result::ok).flatten().is_none_or(|v| v.changes_endpoints())
}

fn is_read_only(viewer: &Option<Result<Option<Viewer>, AppError>>) -> bool {
    viewer.clone().and_then(Result::ok).flatten().is_some_and(|v| v.read_only)
}

fn csrf_of(viewer: Option<Result<Option<Viewer>, AppError>>) -> String {
    viewer.and_then(Result::ok).flatten().map(|v| v.csrf_token).unwrap_or_default()
}

fn nonce_of(viewer: &Option<Result<Option<Viewer>, AppError>>) -> String {
    viewer.clone().and_then(Result::ok).flatten().map(|v| v.form_nonce).unwrap_or_default()
}

#[component]
pub fn EndpointsPage() -> impl IntoView {
    let params = use_params_map();
    let tenant = move || params.read().get("tenant").unwrap_or_default();
    let viewer = Resource::new(|| (), |_| crate::auth::current_viewer());
    let create = ServerAction::<CreateEndpoint>::new();
    let toggle = ServerAction::<SetEndpointEnabled>::new();
    let tick = crate::pages::refresh_tick(5);
    let view_data = Resource::new(
        move || (tenant(), create.version().get(), toggle.version().get(), tick.get()),
        |(t, _, _, _)| load_endpoints(t),
    );
    let outcome = move || {
        let failed = create.value().get().and_then(Result::err).or_else(|| toggle.value().get().and_then(Result::err));
        failed.map(|e| view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> })
    };
    view! {
        <Title text="Endpoints · Sluice"/>
        <Suspense fallback=|| view! { <p>"Loading endpoints…"</p> }>
            {move || {
                let v = viewer.get();
                // Support mends deliveries but changes no endpoint, and a read-only
                // session changes nothing: no forms to fail.
                let can_change = changes_endpoints(&v);
                let nonce = nonce_of(&v);
                let csrf = csrf_of(v);
                view_data
                    .get()
                    .map(|r| match r {
                        Ok(v) => {
                            view! { <EndpointsView v tenant=tenant() csrf nonce can_change create toggle/> }.into_any()
                        }
                        Err(e) => view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> }.into_any(),
                    })
            }}
        </Suspense>
        {outcome}
    }
}

#[component]
fn EndpointsView(
    v: EndpointsView,
    tenant: String,
    csrf: String,
    nonce: String,
    can_change: bool,
    create: ServerAction<CreateEndpoint>,
    toggle: ServerAction<SetEndpointEnabled>,
) -> impl IntoView {
    let rows = v
        .endpoints
        .into_iter()
        .map(|h| {
            let e = h.endpoint;
            let finished = h.succeeded + h.failed;
            let rate = if finished == 0 {
                "—".to_owned()
            } else {
                format!("{:.0} % of {finished}", 100.0 * h.succeeded as f64 / finished as f64)
            };
            let enabled = e.status == EndpointStatus::Enabled;
            let state = if let (true, Some((failures, probe))) = (enabled, h.circuit_open) {
                // Enabled, but paused by the breaker: say why and until when, in words.
                let why =
                    failures.map_or_else(|| "opened by another node".to_owned(), |n| format!("{n} failures in a row"));
                let text = format!("circuit open: {why}, next try {}", crate::pages::when(&probe));
                view! { <span class="badge wait">{text}</span> }.into_any()
            } else if enabled {
                view! { <span class="badge ok">"enabled"</span> }.into_any()
            } else {
                let reason = e.disabled_reason.clone().unwrap_or_default();
                view! { <span class="badge off" title=reason>"disabled"</span> }.into_any()
            };
            let edit = format!("/tenants/{}/endpoints/{}", e.tenant_id, e.id);
            let recover = format!("{edit}/recover");
            let label = if enabled { "Disable" } else { "Enable" };
            let (t, id, c) = (tenant.clone(), e.id.to_string(), csrf.clone());
            let toggle_label = format!("{label} {}", e.url);
            let toggle_form = can_change.then(move || {
                view! {
                    <ActionForm action=toggle>
                        <input type="hidden" name="tenant" value=t/>
                        <input type="hidden" name="endpoint" value=id/>
                        <input type="hidden" name="enabled" value=(!enabled).to_string()/>
                        <input type="hidden" name="csrf" value=c/>
                        <button type="submit" class="secondary" aria-label=toggle_label>{label}</button>
                    </ActionForm>
                }
            });
            view! {
                <tr data-testid="endpoint-row">
                    <td class="url">{e.url.clone()}</td>
                    <td>{e.description.clone()}</td>
                    <td>{state}</td>
                    <td>{rate}</td>
                    <td>{h.last_error.unwrap_or_else(|| "—".into())}</td>
                    <td class="actions">
                        <A href=edit attr:aria-label=format!("Edit {}", e.url)>"Edit"</A>
                        <A href=recover attr:aria-label=format!("Recover {}", e.url)>"Recover"</A>
                        {toggle_form}
                    </td>
                </tr>
            }
        })
        .collect_view();
    let (form_tenant, form_csrf) = (tenant.clone(), csrf.clone());
    let add_form = can_change.then(move || {
        view! {
        <details class="card">
            <summary>"Add an endpoint"</summary>
            <ActionForm action=create>
                <input type="hidden" name="tenant" value=form_tenant/>
                <input type="hidden" name="csrf" value=form_csrf/>
                <crate::pages::SubmissionKey nonce form="create_endpoint".into() completed=create.version()/>
                <div class="field">
                    <label for="new-url">"URL"</label>
                    <input id="new-url" name="url" type="url" required placeholder="https://example.com/webhooks"/>
                </div>
                <div class="field">
                    <label for="new-description">"Description"</label>
                    <input id="new-description" name="description"/>
                </div>
                <div class="field">
                    <label for="new-types">"Event types (comma-separated; empty for all)"</label>
                    <input id="new-types" name="event_types"/>
                </div>
                <button type="submit">"Add endpoint"</button>
            </ActionForm>
        </details>
        }
    });
    view! {
        <h1>"Endpoints"</h1>
        <p class="mb-6 text-slate-600">{v.tenant_name}</p>
        <crate::pages::TenantNav tenant=tenant.clone()/>
        {add_form}
        <div class="table-wrap">
            <table>
                <caption class="sr-only">"Endpoints"</caption>
                <thead>
                    <tr>
                        <th scope="col">"URL"</th>
                        <th scope="col">"Description"</th>
                        <th scope="col">"State"</th>
                        <th scope="col">"Recent success"</th>
                        <th scope="col">"Last error"</th>
                        <th scope="col">"Actions"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
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
                let v = viewer.get();
                let can_change = changes_endpoints(&v);
                let read_only = is_read_only(&v);
                let nonce = nonce_of(&v);
                let csrf = csrf_of(v);
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
                <input id="edit-types" name="event_types" value=e.event_types.join(", ")/>
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
                    <crate::pages::SubmissionKey nonce form="rotate_secret".into() completed=rotate.version()/>
                    <label for="grace">"Keep the old secret valid for"</label>
                    <select id="grace" name="grace_period_seconds">
                        <option value="3600">"1 hour"</option>
                        <option value="86400" selected=true>"24 hours"</option>
                        <option value="604800">"7 days"</option>
                    </select>
                    <button type="submit">"Rotate secret"</button>
                </ActionForm>
            </div>
            {shown}
        </section>
    }
}

#[component]
fn TestEventPanel(tenant: String, endpoint: String, csrf: String, nonce: String) -> impl IntoView {
    let send = ServerAction::<SendTest>::new();
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
                <crate::pages::SubmissionKey nonce form="send_test".into() completed=send.version()/>
                <button type="submit" class="secondary">"Send test event"</button>
            </ActionForm>
            {result}
        </section>
    }
}
