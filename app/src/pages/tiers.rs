//! Admin: tenants, their tiers, quotas, notices (`tenant_notices.rs`) and suspension
//! (`tenant_suspension.rs`), and each tier's SLO targets.

use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use sluice_core::model::{Tenant, Tier};

use crate::auth::{error_text, PageViewer};
use crate::charts::fmt_ms;

#[server(endpoint = "load_tiers_and_tenants")]
pub async fn load_tiers_and_tenants() -> Result<(Vec<Tier>, Vec<Tenant>), AppError> {
    let (ctx, _, caller) = crate::auth::ssr::reading().await?;
    let tiers = ctx.sluice.tiers_to_manage(&caller.platform()?).await?;
    let tenants = ctx.sluice.list_tenants(&caller, Some(250), None).await?;
    Ok((tiers, tenants.data))
}

/// Targets as people type them: a percentage and seconds.
#[server(endpoint = "save_tier")]
pub async fn save_tier(
    tier: String,
    success_percent: String,
    latency_seconds: String,
    csrf: String,
) -> Result<Tier, AppError> {
    use sluice_core::model::UpdateTier;
    let (ctx, _, caller) = crate::auth::ssr::changing(&csrf).await?;
    let percent: f64 = success_percent.trim().parse().map_err(|_| {
        AppError::new(sluice_core::ErrorCode::ValidationFailed, "success target: a percentage such as 99.9")
    })?;
    let seconds: f64 = latency_seconds.trim().parse().map_err(|_| {
        AppError::new(sluice_core::ErrorCode::ValidationFailed, "latency target: a number of seconds such as 60")
    })?;
    let req = UpdateTier {
        success_target: Some(percent / 100.0),
        latency_target_ms: Some((seconds * 1_000.0).round() as i64),
    };
    ctx.sluice.update_tier(&caller.platform()?, &tier, None, req).await.map_err(AppError::from)
}

#[server(endpoint = "set_tenant_tier")]
pub async fn set_tenant_tier(tenant: String, tier: String, csrf: String) -> Result<Tenant, AppError> {
    use crate::auth::ssr::parse_id;
    use sluice_core::model::PatchTenant;
    let (ctx, _, caller) = crate::auth::ssr::changing(&csrf).await?;
    let patch = PatchTenant { tier: Some(tier), ..Default::default() };
    ctx.sluice.patch_tenant(&caller.platform()?, &parse_id(&tenant)?, None, patch).await.map_err(AppError::from)
}

/// A tenant's quotas as typed: a number, or empty for the platform's default.
#[server(endpoint = "set_tenant_quotas")]
pub async fn set_tenant_quotas(
    tenant: String,
    max_endpoints: String,
    max_api_keys: String,
    csrf: String,
) -> Result<Tenant, AppError> {
    use crate::auth::ssr::parse_id;
    use sluice_core::model::PatchTenant;
    let (ctx, _, caller) = crate::auth::ssr::changing(&csrf).await?;
    let quota = |field: &str, typed: &str| -> Result<Option<u32>, AppError> {
        let typed = typed.trim();
        if typed.is_empty() {
            return Ok(None);
        }
        typed.parse().map(Some).map_err(|_| {
            AppError::new(sluice_core::ErrorCode::ValidationFailed, format!("{field}: a whole number, or empty"))
        })
    };
    let patch = PatchTenant {
        max_endpoints: Some(quota("max endpoints", &max_endpoints)?),
        max_api_keys: Some(quota("max API keys", &max_api_keys)?),
        ..Default::default()
    };
    ctx.sluice.patch_tenant(&caller.platform()?, &parse_id(&tenant)?, None, patch).await.map_err(AppError::from)
}

#[server(endpoint = "add_tenant")]
pub async fn add_tenant(
    name: String,
    tier: String,
    csrf: String,
    idempotency_key: Option<String>,
) -> Result<Tenant, AppError> {
    use crate::auth::ssr::{fingerprint, once};
    use sluice_core::model::CreateTenant;
    let (ctx, _, caller) = crate::auth::ssr::changing(&csrf).await?;
    let platform = caller.platform()?;
    let request = fingerprint(&(&name, &tier))?;
    let act = async move {
        let req = CreateTenant { name, tier: Some(tier), ..Default::default() };
        ctx.sluice.create_tenant(&platform, req).await.map_err(AppError::from)
    };
    once(&caller, "add_tenant", idempotency_key.as_deref(), request, act).await
}

/// 0.999 → "99.9": enough digits for any target, none of the float noise.
fn percent(ratio: f64) -> String {
    let p = (ratio * 100_000.0).round() / 1_000.0;
    format!("{p}")
}

#[component]
pub fn TiersPage() -> impl IntoView {
    let viewer = Resource::new(|| (), |_| crate::auth::current_viewer());
    let save = ServerAction::<SaveTier>::new();
    let set_tier = ServerAction::<SetTenantTier>::new();
    let set_quotas = ServerAction::<SetTenantQuotas>::new();
    let set_notices = ServerAction::<super::tenant_notices::SetTenantNotices>::new();
    let suspension = ServerAction::<super::tenant_suspension::SetTenantSuspension>::new();
    let add = ServerAction::<AddTenant>::new();
    let data = Resource::new(
        move || {
            let versions = (save.version().get(), set_tier.version().get(), set_quotas.version().get());
            (versions, set_notices.version().get(), suspension.version().get(), add.version().get())
        },
        |_| load_tiers_and_tenants(),
    );
    let csrf = move || PageViewer::of(viewer.get()).csrf();
    let nonce = move || PageViewer::of(viewer.get()).nonce();
    let outcome = move || {
        let done = |what: String| view! { <p role="status">{what}</p> }.into_any();
        let failed = |e: AppError| view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> }.into_any();
        // The most recent action's answer; each action keeps its own.
        let answers = [
            (save.version().get(), save.value().get().map(|r| r.map(|t| format!("Saved the {} tier.", t.name)))),
            (
                set_tier.version().get(),
                set_tier.value().get().map(|r| r.map(|t| format!("{} is now on {}.", t.name, t.tier))),
            ),
            (
                set_quotas.version().get(),
                set_quotas.value().get().map(|r| r.map(|t| format!("Saved the quotas of {}.", t.name))),
            ),
            (
                set_notices.version().get(),
                set_notices.value().get().map(|r| r.map(|t| format!("Saved the notices of {}.", t.name))),
            ),
            (
                suspension.version().get(),
                suspension.value().get().map(|r| r.map(|t| super::tenant_suspension::describe(&t))),
            ),
            (add.version().get(), add.value().get().map(|r| r.map(|t| format!("Added {}.", t.name)))),
        ];
        answers.into_iter().filter(|(_, a)| a.is_some()).max_by_key(|(v, _)| *v).and_then(|(_, a)| a).map(|r| match r {
            Ok(text) => done(text),
            Err(e) => failed(e),
        })
    };
    view! {
        <Title text="Tenants and tiers · Sluice"/>
        <h1>"Tenants and tiers"</h1>
        {outcome}
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                data.get()
                    .map(|r| match r {
                        Ok((tiers, tenants)) => {
                            let tier_names: Vec<String> = tiers.iter().map(|t| t.name.clone()).collect();
                            let add_options = tier_names
                                .iter()
                                .map(|n| {
                                    let selected = n == sluice_core::model::DEFAULT_TIER;
                                    view! { <option value=n.clone() selected=selected>{n.clone()}</option> }
                                })
                                .collect_view();
                            view! {
                                <section aria-labelledby="tiers-heading">
                                    <h2 id="tiers-heading">"Tiers"</h2>
                                    <p class="text-sm text-slate-500">
                                        "A delivery is good when its endpoint accepted it within the latency target; "
                                        "the success target is the share of deliveries that must be good. "
                                        "A change applies to every tenant on the tier, history included."
                                    </p>
                                    <div class="table-wrap">
                                        <table>
                                            <caption class="sr-only">"Tiers and their targets"</caption>
                                            <thead>
                                                <tr>
                                                    <th scope="col">"Tier"</th>
                                                    <th scope="col">"Targets"</th>
                                                    <th scope="col">"Change"</th>
                                                </tr>
                                            </thead>
                                            <tbody>
                                                {tiers
                                                    .into_iter()
                                                    .map(|t| {
                                                        let name = t.name.clone();
                                                        let promise = format!(
                                                            "{} % within {}",
                                                            percent(t.success_target),
                                                            fmt_ms(t.latency_target_ms as f64),
                                                        );
                                                        let seconds = format!("{}", t.latency_target_ms as f64 / 1_000.0);
                                                        view! {
                                                            <tr data-testid="tier-row">
                                                                <th scope="row">{name.clone()}</th>
                                                                <td>{promise}</td>
                                                                <td class="actions">
                                                                    <ActionForm action=save attr:class="row">
                                                                        <input type="hidden" name="csrf" value=csrf/>
                                                                        <input type="hidden" name="tier" value=name.clone()/>
                                                                        <label class="field">
                                                                            {format!("Success target of {name} (%)")}
                                                                            <input name="success_percent" inputmode="decimal" required value=percent(t.success_target)/>
                                                                        </label>
                                                                        <label class="field">
                                                                            {format!("Latency target of {name} (seconds)")}
                                                                            <input name="latency_seconds" inputmode="decimal" required value=seconds/>
                                                                        </label>
                                                                        <button type="submit">{format!("Save {name}")}</button>
                                                                    </ActionForm>
                                                                </td>
                                                            </tr>
                                                        }
                                                    })
                                                    .collect_view()}
                                            </tbody>
                                        </table>
                                    </div>
                                </section>
                                <section aria-labelledby="tenants-heading">
                                    <h2 id="tenants-heading">"Tenants"</h2>
                                    <details class="card">
                                        <summary>"Add a tenant"</summary>
                                        <ActionForm action=add>
                                            <input type="hidden" name="csrf" value=csrf/>
                                            <crate::pages::SubmissionKey
                                                nonce=nonce()
                                                form="add_tenant".into()
                                                completed=add.version()
                                            />
                                            <div class="field">
                                                <label for="tenant-name">"Name"</label>
                                                <input id="tenant-name" name="name" required maxlength="200"/>
                                            </div>
                                            <div class="field">
                                                <label for="tenant-tier">"Tier"</label>
                                                <select id="tenant-tier" name="tier">
                                                    {add_options}
                                                </select>
                                            </div>
                                            <button type="submit" disabled=move || add.pending().get()>"Add tenant"</button>
                                        </ActionForm>
                                    </details>
                                    <div class="table-wrap">
                                        <table>
                                            <caption class="sr-only">"Tenants"</caption>
                                            <thead>
                                                <tr>
                                                    <th scope="col">"Tenant"</th>
                                                    <th scope="col">"Tier"</th>
                                                    <th scope="col">"Quotas (empty: the platform's default)"</th>
                                                    <th scope="col">"Auto-disable and notices"</th>
                                                    <th scope="col">"Suspension"</th>
                                                </tr>
                                            </thead>
                                            <tbody>
                                                {tenants
                                                    .into_iter()
                                                    .map(|t| {
                                                        let label = format!("Tier of {}", t.name);
                                                        let move_label = format!("Move {}", t.name);
                                                        let endpoints_label = format!("Max endpoints of {}", t.name);
                                                        let keys_label = format!("Max API keys of {}", t.name);
                                                        let save_quotas = format!("Save quotas of {}", t.name);
                                                        let shown = |q: Option<u32>| q.map(|n| n.to_string()).unwrap_or_default();
                                                        let href = format!("/tenants/{}", t.id);
                                                        let (tier_form_id, quota_form_id) = (t.id.to_string(), t.id.to_string());
                                                        let names = tier_names.clone();
                                                        let notices = t.clone();
                                                        let state = t.clone();
                                                        view! {
                                                            <tr data-testid="tenant-row">
                                                                <td><A href=href>{t.name.clone()}</A></td>
                                                                <td class="actions">
                                                                    <ActionForm action=set_tier attr:class="row">
                                                                        <input type="hidden" name="csrf" value=csrf/>
                                                                        <input type="hidden" name="tenant" value=tier_form_id/>
                                                                        <select name="tier" aria-label=label.clone()>
                                                                            {names
                                                                                .iter()
                                                                                .map(|n| {
                                                                                    let selected = *n == t.tier;
                                                                                    view! { <option value=n.clone() selected=selected>{n.clone()}</option> }
                                                                                })
                                                                                .collect_view()}
                                                                        </select>
                                                                        <button type="submit" class="secondary" aria-label=move_label>"Move"</button>
                                                                    </ActionForm>
                                                                </td>
                                                                <td class="actions">
                                                                    <ActionForm action=set_quotas attr:class="row">
                                                                        <input type="hidden" name="csrf" value=csrf/>
                                                                        <input type="hidden" name="tenant" value=quota_form_id/>
                                                                        <input name="max_endpoints" inputmode="numeric" size="6" aria-label=endpoints_label value=shown(t.max_endpoints)/>
                                                                        <input name="max_api_keys" inputmode="numeric" size="6" aria-label=keys_label value=shown(t.max_api_keys)/>
                                                                        <button type="submit" class="secondary" aria-label=save_quotas>"Save"</button>
                                                                    </ActionForm>
                                                                </td>
                                                                <td class="actions">
                                                                    <super::tenant_notices::TenantNoticesForm tenant=notices csrf=csrf action=set_notices/>
                                                                </td>
                                                                <td class="actions">
                                                                    <super::tenant_suspension::TenantSuspensionForm tenant=state csrf=csrf action=suspension/>
                                                                </td>
                                                            </tr>
                                                        }
                                                    })
                                                    .collect_view()}
                                            </tbody>
                                        </table>
                                    </div>
                                </section>
                            }
                                .into_any()
                        }
                        Err(e) => view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> }.into_any(),
                    })
            }}
        </Suspense>
    }
}
