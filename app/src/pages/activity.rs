//! A tenant's activity: what happened to its endpoints, secrets and deliveries (its
//! lifecycle events), newest first, by type; `/tenants/{tenant}/activity`.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{Form, A};
use leptos_router::hooks::{use_params_map, use_query_map};
use sluice_core::model::{ActivityEvent, LifecycleKind, Page};

use crate::auth::error_text;
use crate::error::AppError;

/// The tenant's name and a page of its events.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ActivityView {
    pub tenant_name: String,
    pub page: Page<ActivityEvent>,
}

/// A page of the tenant's events, of one type or subject (`endpoint`) when given.
#[server(endpoint = "load_activity")]
pub async fn load_activity(
    tenant: String,
    kind: Option<String>,
    cursor: Option<String>,
) -> Result<ActivityView, AppError> {
    use sluice_engine::service::EventQuery;
    use sluice_engine::Reach;
    let (ctx, _, caller) = crate::auth::ssr::reading().await?;
    let scope = caller.tenant(&crate::auth::ssr::parse_id(&tenant)?)?;
    let query = EventQuery { kind: kind.filter(|k| !k.is_empty()), ..EventQuery::default() };
    let cursor = cursor.filter(|c| !c.is_empty());
    let tenant_name = ctx.sluice.get_tenant(&scope).await?.name;
    let page = ctx.sluice.list_events(Reach::Tenant(&scope), query, Some(100), cursor).await?;
    Ok(ActivityView { tenant_name, page })
}

#[component]
pub fn ActivityPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let tenant = move || params.read().get("tenant").unwrap_or_default();
    let filters = move || {
        let q = query.read();
        (q.get("type"), q.get("cursor"))
    };
    let events = Resource::new(move || (tenant(), filters()), |(t, (kind, cursor))| load_activity(t, kind, cursor));
    let chosen = move || filters().0.unwrap_or_default();
    let options = LifecycleKind::ALL
        .iter()
        .map(|k| {
            let value = k.as_str();
            view! { <option value=value selected=move || chosen() == value>{value}</option> }
        })
        .collect_view();
    view! {
        <Title text="Activity · Sluice"/>
        <h1>"Activity"</h1>
        <Suspense fallback=|| ()>
            {move || {
                events
                    .get()
                    .and_then(Result::ok)
                    .map(|v| {
                        view! {
                            <p class="mb-6 text-slate-600">{v.tenant_name}</p>
                            <crate::pages::TenantNav tenant=tenant()/>
                        }
                    })
            }}
        </Suspense>
        <Form method="GET" action="" attr:class="filters" attr:aria-label="Filter the activity">
            <div class="field">
                <label for="activity-type">"What happened"</label>
                <select id="activity-type" name="type">
                    <option value="" selected=move || chosen().is_empty()>"Everything"</option>
                    {options}
                </select>
            </div>
            <button type="submit" class="secondary">"Filter"</button>
        </Form>
        <Suspense fallback=|| view! { <p>"Loading the activity…"</p> }>
            {move || {
                events
                    .get()
                    .map(|r| match r {
                        Ok(v) => view! { <ActivityTable page=v.page tenant=tenant() kind=chosen()/> }.into_any(),
                        Err(e) => view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

/// What a person wants to read first of an event's details: its reason, else the
/// details as they are.
fn summary(e: &ActivityEvent) -> String {
    match e.detail.get("reason").and_then(serde_json::Value::as_str) {
        Some(reason) => reason.to_owned(),
        None if e.detail.as_object().is_some_and(serde_json::Map::is_empty) => String::new(),
        None => e.detail.to_string(),
    }
}

#[component]
fn ActivityTable(page: Page<ActivityEvent>, tenant: String, kind: String) -> impl IntoView {
    let older = page.next_cursor.clone().map(|c| format!("?type={kind}&cursor={c}"));
    if page.data.is_empty() {
        return view! { <p>"Nothing has happened yet."</p> }.into_any();
    }
    let rows = page
        .data
        .into_iter()
        .map(|e| {
            // An endpoint's events link to it; other subjects are ids to search for.
            let subject = e.subject_id.clone();
            let about = if e.kind.subject() == "endpoint" {
                let href = format!("/tenants/{tenant}/endpoints/{subject}");
                view! { <A href=href>{subject}</A> }.into_any()
            } else {
                view! { <code>{subject}</code> }.into_any()
            };
            let detail = summary(&e);
            view! {
                <tr data-testid="activity-row">
                    <td>{crate::pages::when(&e.created_at)}</td>
                    <td>{e.kind.as_str()}</td>
                    <td>{about}</td>
                    <td>{e.actor.clone()}</td>
                    <td>{detail}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table>
                <caption class="sr-only">"Activity"</caption>
                <thead>
                    <tr>
                        <th scope="col">"When"</th>
                        <th scope="col">"What"</th>
                        <th scope="col">"About"</th>
                        <th scope="col">"Who"</th>
                        <th scope="col">"Detail"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        {older.map(|href| view! { <a href=href>"Older"</a> })}
    }
    .into_any()
}
