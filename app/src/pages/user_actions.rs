//! An admin's actions on one user: disable or enable, change role and tenant, set a
//! password, delete. Each ends the user's sessions at once (the engine does it).

use leptos::prelude::*;
use sluice_core::model::User;

use crate::error::AppError;

#[server(endpoint = "set_user_disabled")]
pub async fn set_user_disabled(user_id: String, disabled: bool, csrf: String) -> Result<(), AppError> {
    use sluice_core::model::PatchUser;
    let (ctx, _, caller) = crate::auth::ssr::changing(&csrf).await?;
    let id = crate::auth::ssr::parse_id(&user_id)?;
    ctx.sluice
        .update_user(&caller.platform()?, &id, None, PatchUser { disabled: Some(disabled), ..Default::default() })
        .await?;
    Ok(())
}

#[server(endpoint = "change_user_role")]
pub async fn change_user_role(
    user_id: String,
    role: String,
    tenant_id: Option<String>,
    csrf: String,
) -> Result<(), AppError> {
    use sluice_core::model::{PatchUser, Role};
    let (ctx, _, caller) = crate::auth::ssr::changing(&csrf).await?;
    let id = crate::auth::ssr::parse_id(&user_id)?;
    let role = Role::parse(&role).ok_or_else(|| {
        AppError::new(sluice_core::ErrorCode::ValidationFailed, "role: must be admin, support or partner")
    })?;
    let tenant_id = tenant_id.filter(|t| !t.is_empty()).map(|t| crate::auth::ssr::parse_id(&t)).transpose()?;
    let patch = PatchUser { role: Some(role), tenant_id, disabled: None };
    ctx.sluice.update_user(&caller.platform()?, &id, None, patch).await?;
    Ok(())
}

#[server(endpoint = "set_user_password")]
pub async fn set_user_password(user_id: String, password: String, csrf: String) -> Result<(), AppError> {
    let (ctx, _, caller) = crate::auth::ssr::changing(&csrf).await?;
    let id = crate::auth::ssr::parse_id(&user_id)?;
    ctx.sluice.reset_password(&caller.platform()?, &id, password).await?;
    Ok(())
}

#[server(endpoint = "remove_user")]
pub async fn remove_user(user_id: String, csrf: String) -> Result<(), AppError> {
    let (ctx, _, caller) = crate::auth::ssr::changing(&csrf).await?;
    let id = crate::auth::ssr::parse_id(&user_id)?;
    ctx.sluice.delete_user(&caller.platform()?, &id, None).await?;
    Ok(())
}

/// The actions a row of the users table offers.
#[derive(Clone, Copy)]
pub struct UserActions {
    pub toggle: ServerAction<SetUserDisabled>,
    pub role: ServerAction<ChangeUserRole>,
    pub password: ServerAction<SetUserPassword>,
    pub remove: ServerAction<RemoveUser>,
}

impl UserActions {
    pub fn new() -> Self {
        Self {
            toggle: ServerAction::new(),
            role: ServerAction::new(),
            password: ServerAction::new(),
            remove: ServerAction::new(),
        }
    }

    /// Changes whenever one of them completes: what the table reloads on.
    pub fn version(&self) -> usize {
        self.toggle.version().get()
            + self.role.version().get()
            + self.password.version().get()
            + self.remove.version().get()
    }

    /// The last failure of any of them, in words.
    pub fn error(&self) -> Option<AppError> {
        [
            self.toggle.value().get().and_then(Result::err),
            self.role.value().get().and_then(Result::err),
            self.password.value().get().and_then(Result::err),
            self.remove.value().get().and_then(Result::err),
        ]
        .into_iter()
        .flatten()
        .next()
    }
}

/// The actions cell for one user.
#[component]
pub fn UserRowActions(user: User, csrf: String, tenants: Vec<(String, String)>, actions: UserActions) -> impl IntoView {
    let id = user.id.to_string();
    let email = user.email.clone();
    let disabled = user.disabled_at.is_some();
    let label = if disabled { "Enable" } else { "Disable" };
    let role_id = format!("role-{id}");
    let tenant_id = format!("tenant-{id}");
    let password_id = format!("password-{id}");
    let role = user.role.as_str();
    let current_tenant = user.tenant_id.as_ref().map(ToString::to_string);
    // Each form owns its copies: a form's children are a closure of their own.
    let (id1, id2, id3, id4) = (id.clone(), id.clone(), id.clone(), id);
    let (csrf1, csrf2, csrf3, csrf4) = (csrf.clone(), csrf.clone(), csrf.clone(), csrf);
    let toggle_label = format!("{label} {email}");
    let role_label = format!("Role of {email}");
    let tenant_label = format!("Tenant of {email} (partners only)");
    let password_label = format!("New password for {email} (at least 10 characters)");
    let delete_label = format!("Delete {email}");
    let manage_label = format!("Manage {email}");
    view! {
        <ActionForm action=actions.toggle>
            <input type="hidden" name="user_id" value=id1/>
            <input type="hidden" name="disabled" value=(!disabled).to_string()/>
            <input type="hidden" name="csrf" value=csrf1/>
            <button type="submit" class="secondary" aria-label=toggle_label>{label}</button>
        </ActionForm>
        <details>
            <summary aria-label=manage_label>"Manage"</summary>
            <ActionForm action=actions.role>
                <input type="hidden" name="user_id" value=id2/>
                <input type="hidden" name="csrf" value=csrf2/>
                <div class="field">
                    <label for=role_id.clone()>{role_label}</label>
                    <select id=role_id name="role">
                        {["partner", "support", "admin"]
                            .into_iter()
                            .map(|r| view! { <option value=r selected=r == role>{r}</option> })
                            .collect_view()}
                    </select>
                </div>
                <div class="field">
                    <label for=tenant_id.clone()>{tenant_label}</label>
                    <select id=tenant_id name="tenant_id">
                        <option value="">"—"</option>
                        {tenants
                            .into_iter()
                            .map(|(t, name)| {
                                let selected = current_tenant.as_deref() == Some(t.as_str());
                                view! { <option value=t selected=selected>{name}</option> }
                            })
                            .collect_view()}
                    </select>
                </div>
                <button type="submit" class="secondary">"Change role"</button>
            </ActionForm>
            <ActionForm action=actions.password>
                <input type="hidden" name="user_id" value=id3/>
                <input type="hidden" name="csrf" value=csrf3/>
                <div class="field">
                    <label for=password_id.clone()>{password_label}</label>
                    <input id=password_id name="password" type="password" required minlength="10" autocomplete="new-password"/>
                </div>
                <button type="submit" class="secondary">"Set password"</button>
            </ActionForm>
            <ActionForm action=actions.remove>
                <input type="hidden" name="user_id" value=id4/>
                <input type="hidden" name="csrf" value=csrf4/>
                <button type="submit" class="danger" aria-label=delete_label>"Delete user"</button>
            </ActionForm>
        </details>
    }
}
