//! Dashboard users: creation, sessions, and the bootstrap admin (signing in is `sign_in.rs`).
//!
//! Passwords are hashed with argon2id (unlike API keys, people choose guessable ones,
//! so the hash must be slow). Sessions are random tokens; the database keeps only their
//! SHA-256, so reading it does not sign anyone in. Each session carries its own CSRF
//! token, which state-changing dashboard requests must echo.

use sluice_core::model::{CreateUser, Page, Role, User};
use sluice_core::validate::Errors;

use super::passwords::MAX_PASSWORD_BYTES;
use super::sign_in::{random_token, token_hash};
use super::{finish_page, page_args, Caller, Platform, Sluice};
use crate::error::{Error, Result};
use crate::ids::now_ms;

const MIN_PASSWORD: usize = 10;

/// A live session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub user: User,
    pub csrf_token: String,
}

impl Session {
    /// What this user may do, in the terms every service method checks.
    pub fn caller(&self) -> Caller {
        let actor = self.user.id.to_string();
        match (self.user.role, &self.user.tenant_id) {
            (Role::Admin, _) => Caller::Platform { actor },
            (Role::Support, _) => Caller::Support { actor },
            (Role::Partner, Some(tenant)) => Caller::Tenant { tenant: tenant.clone(), actor },
            // A partner without a tenant cannot exist (create_user refuses it); if one
            // did, it must reach nothing. A tenant id that names no tenant does that.
            (Role::Partner, None) => Caller::Tenant { tenant: crate::ids::new_id(), actor },
        }
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
        if req.password.chars().count() < MIN_PASSWORD || req.password.len() > MAX_PASSWORD_BYTES {
            errors.add("password", format!("must be {MIN_PASSWORD} to {MAX_PASSWORD_BYTES} characters"));
        }
        match (req.role, &req.tenant_id) {
            (Role::Partner, None) => errors.add("tenant_id", "a partner belongs to one tenant"),
            (Role::Admin | Role::Support, Some(_)) => errors.add("tenant_id", "only partners belong to a tenant"),
            _ => {}
        }
        errors.into_result().map_err(Error::Validation)?;
        if let Some(tenant) = &req.tenant_id {
            self.store
                .get_tenant(&platform.tenant(tenant))
                .await?
                .ok_or_else(|| Error::invalid("tenant_id", "no such tenant"))?;
        }
        let user = User {
            id: crate::ids::new_id(),
            email,
            role: req.role,
            tenant_id: req.tenant_id,
            created_at: crate::store::ms_to_dt(now_ms()),
        };
        let hash = self.passwords.hash(req.password).await?;
        self.store.insert_user(platform, &user, &hash).await?;
        Ok(user)
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

    /// The session a cookie token names, if it is live.
    pub async fn session(&self, token: &str) -> Result<Option<Session>> {
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        let found = self.store.session(&token_hash(token), now_ms()).await?;
        Ok(found.map(|(user, csrf_token)| Session { user, csrf_token }))
    }

    pub async fn sign_out(&self, token: &str) -> Result<()> {
        self.store.delete_session(&token_hash(token)).await
    }

    /// Creates the first admin unless one exists. Returns the password when it had to
    /// generate one, so the caller can print it once.
    pub async fn ensure_bootstrap_admin(&self, email: &str, password: Option<&str>) -> Result<Option<String>> {
        if self.store.admin_exists().await? {
            return Ok(None);
        }
        let generated = password.is_none().then(|| random_token()[..20].to_owned());
        let password = password.map(str::to_owned).or_else(|| generated.clone()).unwrap_or_default();
        let system = Platform::system("bootstrap");
        self.create_user(&system, CreateUser { email: email.into(), password, role: Role::Admin, tenant_id: None })
            .await?;
        Ok(generated)
    }
}
