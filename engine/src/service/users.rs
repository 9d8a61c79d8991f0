//! Dashboard users: creation, sessions, and the bootstrap admin (signing in is `sign_in.rs`).
//!
//! Passwords are hashed with argon2id (unlike API keys, people choose guessable ones,
//! so the hash must be slow). Sessions are random tokens; the database keeps only their
//! SHA-256, so reading it does not sign anyone in. Each session carries its own CSRF
//! token, which state-changing dashboard requests must echo.

use sluice_core::ids::{TenantId, UserId};
use sluice_core::model::{CreateUser, Page, PatchUser, Role, User};
use sluice_core::validate::Errors;

use super::passwords::MAX_PASSWORD_BYTES;
use super::portal::is_portal_token;
use super::sign_in::{random_token, token_hash};
use super::{finish_page, page_args, Caller, Platform, Sluice};
use crate::error::{Error, Result};
use crate::ids::{duration_ms as ms, now_ms};
use crate::store::PortalGrant;

const MIN_PASSWORD: usize = 10;
/// A session nobody used for this long ends, whatever its expiry.
pub const SESSION_IDLE: std::time::Duration = std::time::Duration::from_secs(30 * 60);
/// How stale `last_seen_at` may get before a request refreshes it.
const TOUCH_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// A live session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub holder: SessionHolder,
    pub csrf_token: String,
}

/// Whose session it is: a user who signed in, or whoever opened a portal link.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionHolder {
    User(User),
    Portal(PortalGrant),
}

impl Session {
    /// What the holder may do, in the terms every service method checks.
    pub fn caller(&self) -> Caller {
        let user = match &self.holder {
            SessionHolder::User(user) => user,
            SessionHolder::Portal(grant) => {
                return Caller::Tenant {
                    tenant: grant.tenant_id.clone(),
                    actor: grant.link_id.to_string(),
                    read_only: grant.read_only,
                }
            }
        };
        let actor = user.id.to_string();
        match (user.role, &user.tenant_id) {
            (Role::Admin, _) => Caller::Platform { actor },
            (Role::Support, _) => Caller::Support { actor },
            (Role::Partner, Some(tenant)) => Caller::Tenant { tenant: tenant.clone(), actor, read_only: false },
            // A partner without a tenant cannot exist (create_user refuses it); if one
            // did, it must reach nothing. A tenant id that names no tenant does that.
            (Role::Partner, None) => Caller::Tenant { tenant: crate::ids::new_id(), actor, read_only: false },
        }
    }

    /// The signed-in user; `None` for a portal session, which has no account.
    pub fn user(&self) -> Option<&User> {
        match &self.holder {
            SessionHolder::User(user) => Some(user),
            SessionHolder::Portal(_) => None,
        }
    }

    /// How the dashboard names who is signed in: the user's email, or the portal link.
    pub fn display_name(&self) -> String {
        match &self.holder {
            SessionHolder::User(user) => user.email.clone(),
            SessionHolder::Portal(grant) => format!("portal link {}", grant.link_id),
        }
    }
}

/// A password for someone who did not choose one: 120 random bits, 20 characters.
pub fn generate_password() -> String {
    random_token()[..20].to_owned()
}

fn validate_password(password: &str) -> std::result::Result<(), String> {
    if password.chars().count() < MIN_PASSWORD || password.len() > MAX_PASSWORD_BYTES {
        Err(format!("must be {MIN_PASSWORD} to {MAX_PASSWORD_BYTES} characters"))
    } else {
        Ok(())
    }
}

/// A partner belongs to one tenant; admins and support to none.
fn validate_role(role: Role, tenant: Option<&TenantId>) -> std::result::Result<(), String> {
    match (role, tenant) {
        (Role::Partner, None) => Err("a partner belongs to one tenant".into()),
        (Role::Admin | Role::Support, Some(_)) => Err("only partners belong to a tenant".into()),
        _ => Ok(()),
    }
}

pub(super) fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn validate_email(email: &str) -> std::result::Result<(), String> {
    let ok = (3..=254).contains(&email.len())
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty());
    if ok {
        Ok(())
    } else {
        Err("must be an email address such as ops@example.com".into())
    }
}

impl Sluice {
    /// Creates a dashboard user. Admins only.
    pub async fn create_user(&self, platform: &Platform, req: CreateUser) -> Result<User> {
        let email = normalise_email(&req.email);
        let mut errors = Errors::default();
        errors.check(validate_email(&email), "email");
        errors.check(validate_password(&req.password), "password");
        errors.check(validate_role(req.role, req.tenant_id.as_ref()), "tenant_id");
        errors.into_result().map_err(Error::Validation)?;
        self.check_tenant_exists(platform, req.tenant_id.as_ref()).await?;
        let user = User {
            id: crate::ids::new_id(),
            email,
            role: req.role,
            tenant_id: req.tenant_id,
            created_at: crate::store::ms_to_dt(now_ms()),
            disabled_at: None,
            version: 1,
        };
        let hash = self.passwords.hash(req.password).await?;
        self.store.insert_user(platform, &user, &hash).await?;
        let detail =
            serde_json::json!({ "email": user.email, "role": user.role.as_str(), "tenant_id": user.tenant_id });
        self.audit(platform.actor(), user.tenant_id.as_ref(), "user.created", Some(user.id.as_str()), detail).await;
        Ok(user)
    }

    /// One dashboard user (platform callers only).
    pub async fn get_user(&self, _platform: &Platform, id: &UserId) -> Result<User> {
        self.store.user(id).await?.ok_or_else(|| Error::not_found("user", id))
    }

    pub async fn list_users(
        &self,
        platform: &Platform,
        limit: Option<i64>,
        cursor: Option<String>,
    ) -> Result<Page<User>> {
        let page = page_args(limit, cursor)?;
        let rows = self.store.list_users(platform, &page).await?;
        Ok(finish_page(rows, &page, |u| u.id.to_string()))
    }

    /// The session a cookie token names, if it is live: not expired, used within
    /// [`SESSION_IDLE`], its user not disabled. Notes the use (at most once a minute,
    /// so a busy dashboard does not write on every request).
    pub async fn session(&self, token: &str) -> Result<Option<Session>> {
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        let now = now_ms();
        let hash = token_hash(token);
        let idle_floor = now - ms(SESSION_IDLE);
        if is_portal_token(token) {
            let Some(found) = self.store.portal_session(&hash, now, idle_floor).await? else {
                return Ok(None);
            };
            if now - found.last_seen_ms > ms(TOUCH_EVERY) {
                self.store.touch_portal_session(&hash, now).await?;
            }
            return Ok(Some(Session { holder: SessionHolder::Portal(found.grant), csrf_token: found.csrf_token }));
        }
        let Some(found) = self.store.session(&hash, now, idle_floor).await? else {
            return Ok(None);
        };
        if now - found.last_seen_ms > ms(TOUCH_EVERY) {
            self.store.touch_session(&hash, now).await?;
        }
        Ok(Some(Session { holder: SessionHolder::User(found.user), csrf_token: found.csrf_token }))
    }

    async fn check_tenant_exists(&self, platform: &Platform, tenant: Option<&TenantId>) -> Result<()> {
        if let Some(tenant) = tenant {
            let no_such = || Error::invalid("tenant_id", "no such tenant");
            let scope = platform.tenant(tenant).map_err(|_| no_such())?;
            self.store.get_tenant(&scope).await?.ok_or_else(no_such)?;
        }
        Ok(())
    }

    /// Changes a user's role, tenant or disabled state; their sessions end at once,
    /// on every node (sessions live in the database). The last enabled admin cannot
    /// be demoted or disabled (409).
    pub async fn update_user(
        &self,
        platform: &Platform,
        id: &UserId,
        if_match: Option<i64>,
        req: PatchUser,
    ) -> Result<User> {
        let mut user = self.store.user(id).await?.ok_or_else(|| Error::not_found("user", id))?;
        Error::require_version(if_match, user.version)?;
        match (req.role, req.tenant_id) {
            (Some(role), tenant) => {
                user.role = role;
                user.tenant_id = tenant;
            }
            (None, Some(tenant)) => user.tenant_id = Some(tenant),
            (None, None) => {}
        }
        validate_role(user.role, user.tenant_id.as_ref()).map_err(|m| Error::invalid("tenant_id", m))?;
        self.check_tenant_exists(platform, user.tenant_id.as_ref()).await?;
        if let Some(disabled) = req.disabled {
            user.disabled_at = match (disabled, user.disabled_at) {
                (true, Some(at)) => Some(at),
                (true, None) => Some(crate::store::ms_to_dt(now_ms())),
                (false, _) => None,
            };
        }
        if !self.store.update_user(platform, &user, user.version).await? {
            return Err(self.stale_user(id).await);
        }
        user.version += 1;
        let detail = serde_json::json!({
            "email": user.email, "role": user.role.as_str(), "tenant_id": user.tenant_id,
            "disabled": user.disabled_at.is_some(),
        });
        self.audit(platform.actor(), user.tenant_id.as_ref(), "user.updated", Some(user.id.as_str()), detail).await;
        Ok(user)
    }

    /// Deletes a user; their sessions end with them. Not the last enabled admin (409);
    /// not when `if_match` names a version other than the current one (412).
    pub async fn delete_user(&self, platform: &Platform, id: &UserId, if_match: Option<i64>) -> Result<()> {
        if !self.store.delete_user(platform, id, if_match).await? {
            return Err(self.stale_user(id).await);
        }
        self.audit(platform.actor(), None, "user.deleted", Some(id.as_str()), serde_json::json!({})).await;
        Ok(())
    }

    /// What a write that lost to another learns: the version it would have to name.
    async fn stale_user(&self, id: &UserId) -> Error {
        match self.store.user(id).await {
            Ok(Some(current)) => Error::PreconditionFailed { current: current.version },
            Ok(None) => Error::not_found("user", id),
            Err(e) => e,
        }
    }

    /// Sets a user's password (an admin resetting it); every session of theirs ends.
    pub async fn reset_password(&self, platform: &Platform, id: &UserId, password: String) -> Result<()> {
        validate_password(&password).map_err(|m| Error::invalid("password", m))?;
        let hash = self.passwords.hash(password).await?;
        self.store.set_password_hash(id, &hash, None).await?;
        self.audit(platform.actor(), None, "user.password_reset", Some(id.as_str()), serde_json::json!({})).await;
        Ok(())
    }

    /// A signed-in user changes their own password, proving the current one; their
    /// other sessions end, the one they are using stays.
    pub async fn change_own_password(&self, token: &str, current: &str, new: String) -> Result<()> {
        let session = self.session(token).await?.ok_or_else(|| Error::Unauthorized("sign in to continue".into()))?;
        let user = session
            .user()
            .ok_or_else(|| Error::Forbidden("a portal session belongs to no account, so it has no password".into()))?;
        validate_password(&new).map_err(|m| Error::invalid("new_password", m))?;
        let hash = self.store.password_hash(&user.id).await?;
        if !self.passwords.verify(current.to_owned(), hash, super::passwords::Lane::Known).await? {
            return Err(Error::invalid("current_password", "is not your current password"));
        }
        let new_hash = self.passwords.hash(new).await?;
        self.store.set_password_hash(&user.id, &new_hash, Some(&token_hash(token))).await?;
        let id = user.id.as_str();
        self.audit(id, user.tenant_id.as_ref(), "user.password_changed", Some(id), serde_json::json!({})).await;
        Ok(())
    }

    pub async fn sign_out(&self, token: &str) -> Result<()> {
        if is_portal_token(token) {
            self.store.delete_portal_session(&token_hash(token)).await
        } else {
            self.store.delete_session(&token_hash(token)).await
        }
    }

    /// A user made at the server's console (`sluice users create`), acting as
    /// `console`: whoever runs the binary against the database and its secret key holds
    /// the platform already.
    pub async fn create_user_at_console(&self, req: CreateUser) -> Result<User> {
        self.create_user(&Platform::system("console"), req).await
    }

    /// Creates the first admin unless one exists. Returns the password when it had to
    /// generate one, so the caller can print it once.
    pub async fn ensure_bootstrap_admin(&self, email: &str, password: Option<&str>) -> Result<Option<String>> {
        if self.store.admin_exists().await? {
            return Ok(None);
        }
        let generated = password.is_none().then(generate_password);
        let password = password.map(str::to_owned).or_else(|| generated.clone()).unwrap_or_default();
        let system = Platform::system("bootstrap");
        self.create_user(&system, CreateUser { email: email.into(), password, role: Role::Admin, tenant_id: None })
            .await?;
        Ok(generated)
    }
}
