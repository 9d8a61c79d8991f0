//! The audit trail: who did what, when, from where. Admins read every entry at
//! `/audit`; a tenant's partners read their own at `/tenants/{tenant}/audit`.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::{use_params_map, use_query_map};
use sluice_core::model::{AuditEvent, Page};

use crate::auth::error_text;
use crate::error::AppError;

/// A page of entries; `tenant` empty for every tenant (admins only).
#[server(endpoint = "load_audit")]
pub async fn load_audit(
    tenant: String,
    actor: Option<String>,
    action: Option<String>,
    cursor: Option<String>,
) -> Result<Page<AuditEvent>, AppError> {
    use sluice_engine::store::AuditFilter;
    use sluice_engine::AuditReach;
    let (ctx, _, caller) = crate::auth::ssr::reading().await?;
    let filter = AuditFilter {
        actor: actor.filter(|a| !a.is_empty()),
        action: action.filter(|a| !a.is_empty()),
        ..AuditFilter::default()
    };
    let cursor = cursor.filter(|c| !c.is_empty());
    let page = if tenant.is_empty() {
        let platform = caller.platform()?;
        ctx.sluice.list_audit_events(AuditReach::All(&platform), filter, Some(100), cursor).await?
    } else {
        let scope = caller.tenant_manage(&crate::auth::ssr::parse_id(&tenant)?)?;
        ctx.sluice.list_audit_events(AuditReach::Tenant(&scope), filter, Some(100), cursor).await?
    };
    Ok(page)
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let tenant = move || params.read().get("tenant").unwrap_or_default();
    let filters = move || {
        let q = query.read();
        (q.get("actor"), q.get("action"), q.get("cursor"))
    };
    let entries = Resource::new(
        move || (tenant(), filters()),
        |(t, (actor, action, cursor))| load_audit(t, actor, action, cursor),
    );
    view! {
        <Title text="Audit · Sluice"/>
        <h1>"Audit trail"</h1>
        <Form method="GET" action="" attr:class="filters" attr:aria-label="Filter the audit trail">
            <div class="field">
                <label for="audit-actor">"Actor (usr_…, key_… or an email)"</label>
                <input id="audit-actor" name="actor" value=move || filters().0.unwrap_or_default()/>
            </div>
            <div class="field">
                <label for="audit-action">"Action (user, api_key, user.disabled …)"</label>
                <input id="audit-action" name="action" value=move || filters().1.unwrap_or_default()/>
            </div>
            <button type="submit" class="secondary">"Filter"</button>
        </Form>
        <Suspense fallback=|| view! { <p>"Loading the trail…"</p> }>
            {move || {
                entries
                    .get()
                    .map(|r| match r {
                        Ok(page) => view! { <AuditTable page/> }.into_any(),
                        Err(e) => view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

#[component]
fn AuditTable(page: Page<AuditEvent>) -> impl IntoView {
    let older = page.next_cursor.clone().map(|c| format!("?cursor={c}"));
    let rows = page
        .data
        .into_iter()
        .map(|e| {
            view! {
                <tr data-testid="audit-row">
                    <td>{crate::pages::when(&e.at)}</td>
                    <td>{e.action.clone()}</td>
                    <td>{e.actor.clone()}</td>
                    <td>{e.target.clone().unwrap_or_default()}</td>
                    <td>{e.tenant_id.as_ref().map(ToString::to_string).unwrap_or_default()}</td>
                    <td>{e.client_ip.clone().unwrap_or_default()}</td>
                    <td><code>{e.detail.to_string()}</code></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table>
                <caption class="sr-only">"Audit trail"</caption>
                <thead>
                    <tr>
                        <th scope="col">"When"</th>
                        <th scope="col">"Action"</th>
                        <th scope="col">"Actor"</th>
                        <th scope="col">"Target"</th>
                        <th scope="col">"Tenant"</th>
                        <th scope="col">"Client"</th>
                        <th scope="col">"Detail"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        {older.map(|href| view! { <a href=href>"Older entries"</a> })}
    }
}
