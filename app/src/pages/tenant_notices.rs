//! Admin: a tenant's auto-disable period and whether it is the platform's inbox for
//! every tenant's notices (operational webhooks), one row of the tenants table.

use crate::error::AppError;
use leptos::prelude::*;
use sluice_core::model::Tenant;

/// The period as typed, in hours (fractions allowed; empty for the platform's default,
/// 0 for never), and the inbox checkbox (sent only when ticked).
#[server(endpoint = "set_tenant_notices")]
pub async fn set_tenant_notices(
    tenant: String,
    auto_disable_hours: String,
    receives_all_notices: Option<String>,
    csrf: String,
) -> Result<Tenant, AppError> {
    use crate::auth::ssr::parse_id;
    use sluice_core::model::PatchTenant;
    let (ctx, _, caller) = crate::auth::ssr::changing(&csrf).await?;
    let typed = auto_disable_hours.trim();
    let seconds = if typed.is_empty() {
        None
    } else {
        let hours: f64 = typed.parse().ok().filter(|h: &f64| h.is_finite() && *h >= 0.0).ok_or_else(|| {
            let why = "auto-disable: hours such as 72, 0 for never, or empty for the platform's default";
            AppError::new(sluice_core::ErrorCode::ValidationFailed, why)
        })?;
        // Out of range stays out of range (u32::MAX), for the service to refuse.
        Some(u32::try_from((hours * 3_600.0).round() as u64).unwrap_or(u32::MAX))
    };
    let patch = PatchTenant {
        auto_disable_after_seconds: Some(seconds),
        receives_all_notices: Some(receives_all_notices.is_some()),
        ..Default::default()
    };
    ctx.sluice.patch_tenant(&caller.platform()?, &parse_id(&tenant)?, None, patch).await.map_err(AppError::from)
}

/// Hours as shown in the field: whole when they are, else to the second.
fn hours(seconds: u32) -> String {
    if seconds.is_multiple_of(3_600) {
        (seconds / 3_600).to_string()
    } else {
        format!("{:.4}", f64::from(seconds) / 3_600.0).trim_end_matches('0').to_owned()
    }
}

/// The form in a tenant's row of the tenants table; `csrf` reads the viewer's token.
#[component]
pub fn TenantNoticesForm<F>(tenant: Tenant, csrf: F, action: ServerAction<SetTenantNotices>) -> impl IntoView
where
    F: Fn() -> String + Send + Sync + 'static,
{
    let period_label = format!("Auto-disable after (hours) for {}", tenant.name);
    let inbox_label = format!("{} receives every tenant's notices", tenant.name);
    let save_label = format!("Save notices of {}", tenant.name);
    let shown = tenant.auto_disable_after_seconds.map(hours).unwrap_or_default();
    view! {
        <ActionForm action=action attr:class="row">
            <input type="hidden" name="csrf" value=csrf/>
            <input type="hidden" name="tenant" value=tenant.id.to_string()/>
            <input
                name="auto_disable_hours"
                inputmode="decimal"
                size="6"
                placeholder="default"
                aria-label=period_label
                value=shown
            />
            <label class="row">
                <input type="checkbox" name="receives_all_notices" value="on" checked=tenant.receives_all_notices aria-label=inbox_label/>
                "inbox"
            </label>
            <button type="submit" class="secondary" aria-label=save_label>"Save"</button>
        </ActionForm>
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hours_are_whole_when_they_can_be() {
        assert_eq!(super::hours(259_200), "72");
        assert_eq!(super::hours(5_400), "1.5");
        assert_eq!(super::hours(1), "0.0003");
    }
}
