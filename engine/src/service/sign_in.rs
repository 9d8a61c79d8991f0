//! Signing in: the throttle, the password check behind its gate, and the session.
//!
//! Three keys are counted for every attempt, before the password is checked: the client
//! address, the account, and the pair. Each has a number of free attempts per window;
//! beyond them every attempt must wait twice as long as the one before, up to a cap.
//! Nothing ever locks: a stranger hammering `admin@localhost` from one address slows
//! down only that address and that pair, and the real admin, from another address,
//! signs in at once. The account-wide key catches guessing spread across many
//! addresses; an address the account signed in from before is exempt from it, so even
//! then the owner is not the one kept out.

use std::net::IpAddr;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sluice_core::model::User;

use super::passwords::Lane;
use super::users::normalise_email;
use super::Sluice;
use crate::error::{Error, Result};
use crate::ids::{duration_ms as ms, now_ms};
use crate::store::{NewSession, ThrottleLimit};

/// How long a session lasts after sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// The window attempts are counted in; a key's count starts again after it.
pub const THROTTLE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// How long an address the account signed in from stays exempt from the account key.
pub(super) const SEEN_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

/// A successful sign-in: the token goes into the cookie and nowhere else.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub token: String,
    pub user: User,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// The keys one attempt counts against.
struct Keys {
    address: ThrottleLimit,
    account: ThrottleLimit,
    pair: ThrottleLimit,
    seen: String,
}

impl Keys {
    fn new(email: &str, client: Option<IpAddr>) -> Self {
        let address = client.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        let limit = |key: String, free: i64, max_delay: Duration| ThrottleLimit {
            key,
            free,
            first_delay_ms: 1_000,
            max_delay_ms: ms(max_delay),
        };
        Self {
            // An office behind one NAT shares an address: generous, short waits.
            address: limit(format!("addr:{address}"), 30, Duration::from_secs(60)),
            // Guessing from many addresses: many free, then one attempt per 30 s at most.
            account: limit(format!("acct:{email}"), 50, Duration::from_secs(30)),
            // One address guessing one account: few free, then waits up to 5 minutes.
            pair: limit(format!("pair:{email}|{address}"), 5, Duration::from_secs(300)),
            seen: format!("seen:{email}|{address}"),
        }
    }
}

pub(super) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A value no one can guess or repeat by chance (132 random bits, URL-safe), for the
/// dashboard's per-page form nonces.
pub fn random_nonce() -> String {
    random_token()[..22].to_owned()
}

pub(super) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Sluice {
    /// Checks email and password and opens a session. `client` is the address the
    /// request came from (as the server's trusted-proxy rules decided), `None` when
    /// unknown. Too many attempts get `RateLimited` with how long to wait.
    pub async fn sign_in(&self, email: &str, password: &str, client: Option<IpAddr>) -> Result<SignedIn> {
        let email = normalise_email(email);
        let now = now_ms();
        let keys = Keys::new(&email, client);
        let seen_before = self.store.sign_in_seen_since(&keys.seen, now - ms(SEEN_FOR)).await?;
        let mut limits = vec![keys.address.clone(), keys.pair.clone()];
        if !seen_before {
            limits.push(keys.account.clone());
        }
        // Always locked in the same order (by key), so two reservations cannot deadlock.
        limits.sort_by(|a, b| a.key.cmp(&b.key));
        if let Some(wait_ms) = self.store.reserve_sign_in(&limits, now, now - ms(THROTTLE_WINDOW)).await? {
            let retry_after_seconds = u64::try_from(wait_ms.max(1)).unwrap_or(1).div_ceil(1000);
            return Err(Error::RateLimited { retry_after_seconds });
        }

        let found = self.store.user_by_email(&email).await?;
        let (user, hash) = match found {
            Some((user, hash)) => (Some(user), Some(hash)),
            None => (None, None),
        };
        let lane = if seen_before { Lane::Known } else { Lane::Anyone };
        let matches = self.passwords.verify(password.to_owned(), hash, lane).await?;
        let user = match user {
            // A disabled user is told what a wrong password is told: whether an
            // account is disabled is not a stranger's business.
            Some(user) if matches && user.disabled_at.is_none() => user,
            // The attempt stays counted: that is what makes guessing slow. Throttled
            // attempts are not recorded one by one (a stranger could fill the trail);
            // the ones that reached the password check are.
            user => {
                let detail = serde_json::json!({ "known_user": user.is_some(), "disabled": user.as_ref().is_some_and(|u| u.disabled_at.is_some()) });
                let tenant = user.as_ref().and_then(|u| u.tenant_id.as_ref());
                self.audit(&email, tenant, "session.sign_in_failed", None, detail).await;
                return Err(Error::Unauthorized("that email and password do not match".into()));
            }
        };

        self.store.clear_sign_in(&[keys.account.key.clone(), keys.pair.key.clone()]).await?;
        // The address may be shared by many people; give back what this one used.
        self.store.release_sign_in(&keys.address).await?;
        self.store.mark_sign_in_seen(&keys.seen, now).await?;

        let token = random_token();
        let csrf_token = random_token();
        let expires_at_ms = now + ms(SESSION_TTL);
        self.store
            .insert_session(&NewSession {
                token_hash: token_hash(&token),
                user_id: user.id.clone(),
                csrf_token: csrf_token.clone(),
                created_at_ms: now,
                expires_at_ms,
            })
            .await?;
        let detail = serde_json::json!({ "email": user.email });
        self.audit(user.id.as_str(), user.tenant_id.as_ref(), "session.signed_in", Some(user.id.as_str()), detail)
            .await;
        Ok(SignedIn { token, user, csrf_token, expires_at: crate::store::ms_to_dt(expires_at_ms) })
    }
}
