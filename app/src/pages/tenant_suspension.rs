//! Admin: suspend a tenant (nothing queued for it, nothing delivered) or resume it,
//! one cell of the tenants table.

use crate::error::AppError;
use leptos::prelude::*;
use sluice_core::model::Tenant;

/// `action` is `suspend` (with an optional reason) or `resume`.
#[server(endpoint = "set_tenant_suspension")]
pub async fn set_tenant_suspension(
    tenant: String,
    action: String,
    reason: Option<String>,
    csrf: String,
) -> Result<Tenant, AppError> {
    use crate::auth::ssr::parse_id;
    use sluice_core::model::SuspendTenant;
    let (ctx, _, caller) = crate::auth::ssr::changing(&csrf).await?;
    let (platform, id) = (caller.platform()?, parse_id(&tenant)?);
    let answer = match action.as_str() {
        "suspend" => {
            let reason = reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
            ctx.sluice.suspend_tenant(&platform, &id, SuspendTenant { reason }).await
        }
        "resume" => ctx.sluice.resume_tenant(&platform, &id).await,
        _ => return Err(AppError::new(sluice_core::ErrorCode::ValidationFailed, "action: suspend or resume")),
    };
    answer.map_err(AppError::from)
}

/// What the tenants table says of a tenant's state after a change.
pub fn describe(t: &Tenant) -> String {
    match &t.suspended_reason {
        Some(reason) if t.suspended_at.is_some() => format!("{} is suspended: {reason}.", t.name),
        _ => format!("{} is active.", t.name),
    }
}

/// The cell: a suspended tenant's reason and a Resume button, or a reason field and a
/// Suspend button. `csrf` reads the viewer's token.
#[component]
pub fn TenantSuspensionForm<F>(tenant: Tenant, csrf: F, action: ServerAction<SetTenantSuspension>) -> impl IntoView
where
    F: Fn() -> String + Send + Sync + 'static,
{
    let suspended = tenant.suspended_at.is_some();
    let reason = tenant.suspended_reason.clone().unwrap_or_default();
    let reason_label = format!("Why suspend {}", tenant.name);
    let button_label = format!("{} {}", if suspended { "Resume" } else { "Suspend" }, tenant.name);
    view! {
        <ActionForm action=action attr:class="row">
            <input type="hidden" name="csrf" value=csrf/>
            <input type="hidden" name="tenant" value=tenant.id.to_string()/>
            {if suspended {
                view! {
                    <span class="badge" data-testid="suspended">"Suspended: "{reason}</span>
                    <input type="hidden" name="action" value="resume"/>
                }
                    .into_any()
            } else {
                view! {
                    <input name="reason" size="14" maxlength="1024" placeholder="reason" aria-label=reason_label/>
                    <input type="hidden" name="action" value="suspend"/>
                }
                    .into_any()
            }}
            <button type="submit" class="secondary" aria-label=button_label>
                {if suspended { "Resume" } else { "Suspend" }}
            </button>
        </ActionForm>
    }
}
