//! Admin: API keys, platform and per tenant. Create (the key is shown once, here and
//! nowhere else), see when each was last used, revoke.

use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use sluice_core::model::{ApiKey, CreatedApiKey};

use crate::auth::{error_text, PageViewer};

#[server(endpoint = "load_api_keys")]
pub async fn load_api_keys() -> Result<(Vec<ApiKey>, Vec<(String, String)>), AppError> {
    use sluice_engine::KeyReach;
    let (ctx, _, caller) = crate::auth::ssr::reading().await?;
    let keys = ctx.sluice.list_api_keys(KeyReach::AllKeys(&caller.platform()?)).await?;
    let tenants = ctx.sluice.list_tenants(&caller, Some(250), None).await?;
    Ok((keys, tenants.data.into_iter().map(|t| (t.id.to_string(), t.name)).collect()))
}

/// `scope` is "platform" or a tenant id.
#[server(endpoint = "issue_api_key")]
pub async fn issue_api_key(
    name: String,
    scope: String,
    csrf: String,
    idempotency_key: Option<String>,
) -> Result<CreatedApiKey, AppError> {
    use crate::auth::ssr::{fingerprint, once, parse_id};
    use sluice_core::model::CreateApiKey;
    let (ctx, _, caller) = crate::auth::ssr::changing(&csrf).await?;
    let platform = caller.platform()?;
    let tenant = if scope == "platform" { None } else { Some(parse_id(&scope)?) };
    let request = fingerprint(&(&name, &scope))?;
    let act = async move {
        let req = CreateApiKey { name: Some(name) };
        let created = match tenant {
            None => ctx.sluice.create_platform_api_key(&platform, req).await,
            Some(tenant) => ctx.sluice.create_api_key(&platform, &tenant, req).await,
        };
        created.map_err(AppError::from)
    };
    once(&caller, "issue_api_key", idempotency_key.as_deref(), request, act).await
}

#[server(endpoint = "revoke_api_key")]
pub async fn revoke_api_key(key_id: String, csrf: String) -> Result<ApiKey, AppError> {
    use crate::auth::ssr::parse_id;
    let (ctx, _, caller) = crate::auth::ssr::changing(&csrf).await?;
    ctx.sluice.revoke_api_key(&caller.platform()?, &parse_id(&key_id)?).await.map_err(AppError::from)
}

#[component]
pub fn ApiKeysPage() -> impl IntoView {
    let viewer = Resource::new(|| (), |_| crate::auth::current_viewer());
    let issue = ServerAction::<IssueApiKey>::new();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let keys = Resource::new(move || (issue.version().get(), revoke.version().get()), |_| load_api_keys());
    let csrf = move || PageViewer::of(viewer.get()).csrf();
    let nonce = move || PageViewer::of(viewer.get()).nonce();
    view! {
        <Title text="API keys · Sluice"/>
        <h1>"API keys"</h1>
        <p class="text-sm text-slate-500">
            "A platform key reaches every tenant; a tenant key only its own. Keys are stored hashed: "
            "a new key is shown once. Revoking takes effect at once on this node and within 30 seconds on others."
        </p>
        {move || issue.value().get().map(|r| match r {
            Ok(k) => view! {
                <div role="status" class="card" aria-label="New API key">
                    <p>{format!("Created “{}”. Copy it now: it will not be shown again.", k.api_key.name)}</p>
                    <pre class="code" data-testid="new-key">{k.key}</pre>
                </div>
            }
                .into_any(),
            Err(e) => view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> }.into_any(),
        })}
        {move || revoke.value().get().and_then(|r| r.err()).map(|e| view! {
            <p role="alert" class="text-red-700">{error_text(&e)}</p>
        })}
        <Suspense fallback=|| view! { <p>"Loading keys…"</p> }>
            {move || {
                keys.get()
                    .map(|r| match r {
                        Ok((keys, tenants)) => {
                            let name_of = {
                                let tenants = tenants.clone();
                                move |id: &str| {
                                    tenants.iter().find(|(t, _)| t == id).map(|(_, n)| n.clone()).unwrap_or_default()
                                }
                            };
                            view! {
                                <details class="card">
                                    <summary>"Create a key"</summary>
                                    <ActionForm action=issue>
                                        <input type="hidden" name="csrf" value=csrf/>
                                        <crate::pages::SubmissionKey
                                            nonce=nonce()
                                            form="issue_api_key".into()
                                            completed=issue.version()
                                        />
                                        <div class="field">
                                            <label for="key-name">"Name"</label>
                                            <input id="key-name" name="name" required maxlength="200" placeholder="billing-service"/>
                                        </div>
                                        <div class="field">
                                            <label for="key-scope">"Scope"</label>
                                            <select id="key-scope" name="scope">
                                                <option value="platform">"platform (every tenant)"</option>
                                                {tenants
                                                    .iter()
                                                    .map(|(id, name)| view! { <option value=id.clone()>{format!("tenant {name}")}</option> })
                                                    .collect_view()}
                                            </select>
                                        </div>
                                        <button type="submit" disabled=move || issue.pending().get()>"Create key"</button>
                                    </ActionForm>
                                </details>
                                <div class="table-wrap">
                                    <table>
                                        <caption class="sr-only">"API keys"</caption>
                                        <thead>
                                            <tr>
                                                <th scope="col">"Name"</th>
                                                <th scope="col">"Key"</th>
                                                <th scope="col">"Scope"</th>
                                                <th scope="col">"Created (UTC)"</th>
                                                <th scope="col">"Last used (UTC)"</th>
                                                <th scope="col">"Revoke"</th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {keys
                                                .into_iter()
                                                .map(|k| {
                                                    let scope = k
                                                        .tenant_id
                                                        .as_ref()
                                                        .map(|t| format!("tenant {}", name_of(t.as_str())))
                                                        .unwrap_or_else(|| "platform".into());
                                                    let label = format!("Revoke {} ({}…)", k.name, k.prefix);
                                                    view! {
                                                        <tr data-testid="key-row">
                                                            <td>{k.name.clone()}</td>
                                                            <td><code>{format!("{}…", k.prefix)}</code></td>
                                                            <td>{scope}</td>
                                                            <td>{crate::pages::when_minute(&k.created_at)}</td>
                                                            <td>{k.last_used_at.as_ref().map(crate::pages::when_minute).unwrap_or_else(|| "never".into())}</td>
                                                            <td class="actions">
                                                                {match k.revoked_at {
                                                                    Some(at) => view! {
                                                                        <span class="badge off">{format!("revoked {}", crate::pages::when_minute(&at))}</span>
                                                                    }
                                                                        .into_any(),
                                                                    None => view! {
                                                                        <ActionForm action=revoke>
                                                                            <input type="hidden" name="csrf" value=csrf/>
                                                                            <input type="hidden" name="key_id" value=k.id.to_string()/>
                                                                            <button type="submit" class="secondary" aria-label=label>"Revoke"</button>
                                                                        </ActionForm>
                                                                    }
                                                                        .into_any(),
                                                                }}
                                                            </td>
                                                        </tr>
                                                    }
                                                })
                                                .collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                            }
                                .into_any()
                        }
                        Err(e) => view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> }.into_any(),
                    })
            }}
        </Suspense>
    }
}
