//! Admin: dashboard users and their roles. Admins only (the service refuses others).

use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use sluice_core::model::{Page, User};

use crate::auth::{error_text, PageViewer};

#[server(endpoint = "load_users")]
pub async fn load_users() -> Result<(Page<User>, Vec<(String, String)>), AppError> {
    let (ctx, _, caller) = crate::auth::ssr::reading().await?;
    let users = ctx.sluice.list_users(&caller.platform()?, Some(250), None).await?;
    let tenants = ctx.sluice.list_tenants(&caller, Some(250), None).await?;
    Ok((users, tenants.data.into_iter().map(|t| (t.id.to_string(), t.name)).collect()))
}

#[server(endpoint = "add_user")]
pub async fn add_user(
    email: String,
    password: String,
    role: String,
    tenant_id: Option<String>,
    csrf: String,
    idempotency_key: Option<String>,
) -> Result<String, AppError> {
    use crate::auth::ssr::{fingerprint, once, parse_id};
    use sluice_core::model::{CreateUser, Role};
    let (ctx, _, caller) = crate::auth::ssr::changing(&csrf).await?;
    let platform = caller.platform()?;
    // The password is in the fingerprint, which is kept only keyed by the secret key.
    let request = fingerprint(&(&email, &password, &role, &tenant_id))?;
    let role = Role::parse(&role).ok_or_else(|| {
        AppError::new(sluice_core::ErrorCode::ValidationFailed, "role: must be admin, support or partner")
    })?;
    let tenant_id = tenant_id.filter(|t| !t.is_empty()).map(|t| parse_id(&t)).transpose()?;
    let act = async move {
        let user = ctx.sluice.create_user(&platform, CreateUser { email, password, role, tenant_id }).await?;
        Ok(user.email)
    };
    once(&caller, "add_user", idempotency_key.as_deref(), request, act).await
}

#[component]
pub fn UsersPage() -> impl IntoView {
    let viewer = Resource::new(|| (), |_| crate::auth::current_viewer());
    let add = ServerAction::<AddUser>::new();
    let actions = crate::pages::user_actions::UserActions::new();
    let users = Resource::new(move || (add.version().get(), actions.version()), |_| load_users());
    view! {
        <Title text="Users · Sluice"/>
        <h1>"Users"</h1>
        <Suspense fallback=|| view! { <p>"Loading users…"</p> }>
            {move || {
                let v = PageViewer::of(viewer.get());
                let csrf = v.csrf();
                let form_nonce = v.nonce();
                users
                    .get()
                    .map(|r| match r {
                        Ok((users, tenants)) => {
                            let name_of = {
                                let tenants = tenants.clone();
                                move |id: &str| {
                                    tenants.iter().find(|(t, _)| t == id).map(|(_, n)| n.clone()).unwrap_or_default()
                                }
                            };
                            let (form_csrf, form_tenants) = (csrf.clone(), tenants.clone());
                            view! {
                                <details class="card">
                                    <summary>"Add a user"</summary>
                                    <ActionForm action=add>
                                        <input type="hidden" name="csrf" value=form_csrf/>
                                        <crate::pages::SubmissionKey
                                            nonce=form_nonce.clone()
                                            form="add_user".into()
                                            completed=add.version()
                                        />
                                        <div class="field">
                                            <label for="user-email">"Email"</label>
                                            <input id="user-email" name="email" type="email" required/>
                                        </div>
                                        <div class="field">
                                            <label for="user-password">"Initial password (at least 10 characters)"</label>
                                            <input id="user-password" name="password" type="password" required minlength="10"/>
                                        </div>
                                        <div class="field">
                                            <label for="user-role">"Role"</label>
                                            <select id="user-role" name="role">
                                                <option value="partner">"partner"</option>
                                                <option value="support">"support"</option>
                                                <option value="admin">"admin"</option>
                                            </select>
                                        </div>
                                        <div class="field">
                                            <label for="user-tenant">"Tenant (partners only)"</label>
                                            <select id="user-tenant" name="tenant_id">
                                                <option value="">"—"</option>
                                                {form_tenants
                                                    .into_iter()
                                                    .map(|(id, name)| view! { <option value=id>{name}</option> })
                                                    .collect_view()}
                                            </select>
                                        </div>
                                        <button type="submit" disabled=move || add.pending().get()>"Add user"</button>
                                    </ActionForm>
                                </details>
                                <div class="table-wrap">
                                    <table>
                                        <caption class="sr-only">"Users"</caption>
                                        <thead>
                                            <tr>
                                                <th scope="col">"Email"</th>
                                                <th scope="col">"Role"</th>
                                                <th scope="col">"Tenant"</th>
                                                <th scope="col">"Created"</th>
                                                <th scope="col">"State"</th>
                                                <th scope="col">"Actions"</th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {users
                                                .data
                                                .into_iter()
                                                .map(|u| {
                                                    let state = if u.disabled_at.is_some() {
                                                        view! { <span class="badge off">"disabled"</span> }.into_any()
                                                    } else {
                                                        view! { <span class="badge ok">"active"</span> }.into_any()
                                                    };
                                                    view! {
                                                        <tr data-testid="user-row">
                                                            <td>{u.email.clone()}</td>
                                                            <td>{u.role.as_str()}</td>
                                                            <td>{u.tenant_id.as_ref().map(|t| name_of(t.as_str())).unwrap_or_default()}</td>
                                                            <td>{crate::pages::when(&u.created_at)}</td>
                                                            <td>{state}</td>
                                                            <td class="actions">
                                                                <crate::pages::user_actions::UserRowActions
                                                                    user=u.clone()
                                                                    csrf=csrf.clone()
                                                                    tenants=tenants.clone()
                                                                    actions=actions
                                                                />
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
        {move || actions.error().map(|e| view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> })}
        {move || add.value().get().map(|r| match r {
            Ok(email) => view! { <p role="status">{format!("Added {email}.")}</p> }.into_any(),
            Err(e) => view! { <p role="alert" class="text-red-700">{error_text(&e)}</p> }.into_any(),
        })}
    }
}
