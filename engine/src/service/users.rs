//! Dashboard users: creation, sign-in with throttling, sessions, and the bootstrap admin.
//!
//! Passwords are hashed with argon2id (unlike API keys, people choose guessable ones,
//! so the hash must be slow). Sessions are random tokens; the database keeps only their
//! SHA-256, so reading it does not sign anyone in. Each session carries its own CSRF
//! token, which state-changing dashboard requests must echo.

use std::sync::OnceLock;
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sluice_core::model::{CreateUser, Page, Role, User};
use sluice_core::validate::Errors;

use super::{finish_page, page_args, Caller, Platform, Sluice};
use crate::error::{Error, Result};
use crate::ids::now_ms;
use crate::store::NewSession;

/// How long a session lasts after sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Failed sign-ins allowed per email within [`THROTTLE_WINDOW`] before it is locked.
const THROTTLE_MAX_FAILURES: i64 = 5;
const THROTTLE_WINDOW: Duration = Duration::from_secs(15 * 60);
const MIN_PASSWORD: usize = 10;

/// A successful sign-in: the token goes into the cookie and nowhere else.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub token: String,
    pub user: User,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

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

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn normalise_email(email: &str) -> String {
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

/// Hashing takes tens of milliseconds of CPU by design: off the async threads.
async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(format!("hashing a password: {e}")))
    })
    .await
    .map_err(|e| Error::Internal(format!("password hashing task: {e}")))?
}

async fn verify_password(password: String, hash: String) -> Result<bool> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&hash).map_err(|e| Error::Internal(format!("stored password hash: {e}")))?;
        Ok(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await
    .map_err(|e| Error::Internal(format!("password check task: {e}")))?
}

/// A real hash to check unknown emails against, so a wrong email takes as long as a
/// wrong password and response times do not reveal which accounts exist.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default().hash_password(b"not a password anyone has", &salt).map(|h| h.to_string()).unwrap_or_default()
    })
}

impl Sluice {
    /// Creates a dashboard user. Admins only.
    pub async fn create_user(&self, platform: &Platform, req: CreateUser) -> Result<User> {
        let email = normalise_email(&req.email);
        let mut errors = Errors::default();
        errors.check(validate_email(&email), "email");
        if req.password.chars().count() < MIN_PASSWORD || req.password.len() > 1024 {
            errors.add("password", format!("must be {MIN_PASSWORD} to 1024 characters"));
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
        let hash = hash_password(req.password).await?;
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

    /// Checks email and password and opens a session. After too many failures for one
    /// email, refuses for a while even with the right password.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<SignedIn> {
        let email = normalise_email(email);
        let now = now_ms();
        let window_floor = now - THROTTLE_WINDOW.as_millis() as i64;
        if self.store.sign_in_failures(&email, window_floor).await? >= THROTTLE_MAX_FAILURES {
            return Err(Error::RateLimited { retry_after_seconds: THROTTLE_WINDOW.as_secs() });
        }
        let found = self.store.user_by_email(&email).await?;
        let hash = found.as_ref().map_or_else(|| decoy_hash().to_owned(), |(_, h)| h.clone());
        let matches = verify_password(password.to_owned(), hash).await?;
        let user = match found {
            Some((user, _)) if matches => user,
            _ => {
                self.store.record_sign_in_failure(&email, now, window_floor).await?;
                return Err(Error::Unauthorized("that email and password do not match".into()));
            }
        };
        self.store.clear_sign_in_failures(&email).await?;
        let token = random_token();
        let csrf_token = random_token();
        let expires_at_ms = now + SESSION_TTL.as_millis() as i64;
        self.store
            .insert_session(&NewSession {
                token_hash: token_hash(&token),
                user_id: user.id.clone(),
                csrf_token: csrf_token.clone(),
                created_at_ms: now,
                expires_at_ms,
            })
            .await?;
        Ok(SignedIn { token, user, csrf_token, expires_at: crate::store::ms_to_dt(expires_at_ms) })
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
