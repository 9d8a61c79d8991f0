//! Who is looking at the dashboard: sign-in, sign-out and the current viewer, as server
//! functions over the engine's users service, plus the server-side session checks
//! every other server function starts with.

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The signed-in user as the pages need them. The CSRF token goes into every form
/// that changes something; the server compares it with the session's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Viewer {
    /// The user's email, or "portal link pl_…" for a session a portal link opened.
    pub email: String,
    pub role: sluice_core::model::Role,
    pub tenant_id: Option<String>,
    pub csrf_token: String,
    /// A session a portal link opened: it belongs to no account (no password).
    pub portal: bool,
    /// A read-only portal session: the pages offer no form that would be refused.
    pub read_only: bool,
    /// New for every page the viewer is read for: with the form's name and how many
    /// times it was submitted, it makes each submission's idempotency key
    /// ([`submission_key`]), so a double click acts once.
    pub form_nonce: String,
}

/// The idempotency key a form sends: this page's nonce, the form (and what it acts
/// on, where one page has several), and the submissions its action has completed. A
/// second click before the first is answered sends the same key and gets the first's
/// answer (or is told it is still being answered); after an answer the key moves on,
/// so a deliberate second submission acts again.
pub fn submission_key(nonce: &str, form: &str, completed: usize) -> String {
    format!("{nonce}.{form}.{completed}")
}

impl Viewer {
    /// Whether the pages may offer forms that change a tenant's endpoints.
    pub fn changes_endpoints(&self) -> bool {
        self.role != sluice_core::model::Role::Support && !self.read_only
    }
}

/// What a page's forms take from its viewer, read once from a `current_viewer`
/// resource. While nobody is known (still loading, or the read failed) the tokens are
/// empty: a form sent with them is refused by the server, never acted on.
#[derive(Debug, Clone, Default)]
pub struct PageViewer(Option<Viewer>);

impl PageViewer {
    pub fn of(read: Option<Result<Option<Viewer>, AppError>>) -> Self {
        Self(read.and_then(Result::ok).flatten())
    }

    /// The session's CSRF token, for every form that changes something.
    pub fn csrf(&self) -> String {
        self.0.as_ref().map(|v| v.csrf_token.clone()).unwrap_or_default()
    }

    /// This page's nonce, for its forms' [`submission_key`]s.
    pub fn nonce(&self) -> String {
        self.0.as_ref().map(|v| v.form_nonce.clone()).unwrap_or_default()
    }

    /// A read-only portal session: offered no form that would be refused.
    pub fn read_only(&self) -> bool {
        self.0.as_ref().is_some_and(|v| v.read_only)
    }

    /// Whether endpoint forms are offered; while nobody is known they are (the
    /// server decides).
    pub fn changes_endpoints(&self) -> bool {
        self.0.as_ref().is_none_or(Viewer::changes_endpoints)
    }
}

/// The message of a server function's error, without the framework's prefix.
pub fn error_text(e: &AppError) -> String {
    e.message.clone()
}

/// Signs in and sets the session cookie; then goes to the dashboard.
#[server(endpoint = "sign_in")]
pub async fn sign_in(email: String, password: String) -> Result<(), AppError> {
    use axum::http::{header, HeaderValue};
    let ctx = ssr::context()?;
    let origin = ssr::client_origin().await;
    let signed = match ctx.sluice.sign_in(&email, &password, origin.ip).await {
        Ok(s) => s,
        // A wrong password is the caller's problem, not a server failure: 401 (or
        // 429 when throttled), as the REST API would say.
        Err(e) => return Err(AppError::from(e)),
    };
    let cookie = ssr::session_cookie(&ctx, &signed.token, sluice_engine::service::SESSION_TTL.as_secs());
    let value = HeaderValue::from_str(&cookie).map_err(|e| AppError::internal(e.to_string()))?;
    expect_context::<leptos_axum::ResponseOptions>().insert_header(header::SET_COOKIE, value);
    leptos_axum::redirect("/");
    Ok(())
}

/// Opens a portal link: uses it up, sets the session cookie (for as long as the link's
/// session lasts), then goes to the dashboard.
#[server(endpoint = "open_portal_link")]
pub async fn open_portal_link(token: String) -> Result<(), AppError> {
    use axum::http::{header, HeaderValue};
    let ctx = ssr::context()?;
    let previous = ssr::session_with_token().await?;
    // The browser's cookie is about to be replaced: the session it held ends.
    let replacing = previous.as_ref().map(|(old_token, _)| old_token.as_str());
    let opened = ctx.sluice.open_portal_link(token.trim(), replacing).await?;
    let lasts = (opened.expires_at - chrono::Utc::now()).num_seconds().max(0);
    let cookie = ssr::session_cookie(&ctx, &opened.token, lasts.unsigned_abs());
    let value = HeaderValue::from_str(&cookie).map_err(|e| AppError::internal(e.to_string()))?;
    expect_context::<leptos_axum::ResponseOptions>().insert_header(header::SET_COOKIE, value);
    // Home sends a partner to their own delivery log, as after signing in.
    leptos_axum::redirect("/");
    Ok(())
}

/// Ends the session (its CSRF token proves the form came from this dashboard).
#[server(endpoint = "sign_out")]
pub async fn sign_out(csrf: String) -> Result<(), AppError> {
    use axum::http::{header, HeaderValue};
    let ctx = ssr::context()?;
    if let Some((token, session)) = ssr::session_with_token().await? {
        ssr::check_csrf(&session, &csrf)?;
        ctx.sluice.sign_out(&token).await?;
    }
    let cookie = ssr::session_cookie(&ctx, "", 0);
    let value = HeaderValue::from_str(&cookie).map_err(|e| AppError::internal(e.to_string()))?;
    expect_context::<leptos_axum::ResponseOptions>().insert_header(header::SET_COOKIE, value);
    leptos_axum::redirect("/sign-in");
    Ok(())
}

/// The signed-in user, or `None`.
#[server(endpoint = "current_viewer")]
pub async fn current_viewer() -> Result<Option<Viewer>, AppError> {
    use sluice_engine::SessionHolder;
    Ok(ssr::session().await?.map(|s| {
        let (role, tenant_id, portal, read_only) = match &s.holder {
            SessionHolder::User(u) => (u.role, u.tenant_id.as_ref().map(ToString::to_string), false, false),
            SessionHolder::Portal(g) => {
                (sluice_core::model::Role::Partner, Some(g.tenant_id.to_string()), true, g.read_only)
            }
        };
        Viewer {
            email: s.display_name(),
            role,
            tenant_id,
            csrf_token: s.csrf_token.clone(),
            portal,
            read_only,
            form_nonce: sluice_engine::service::random_nonce(),
        }
    }))
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Server-side helpers: the context server functions read, and session checks.
    use std::sync::Arc;

    use axum::http::HeaderMap;
    use leptos::prelude::*;
    use sluice_core::ErrorCode;
    use sluice_engine::{Caller, ClientOrigin, Session};

    use crate::error::AppError;

    /// The session cookie's name when it is `Secure`: the `__Host-` prefix makes the
    /// browser refuse it unless it is Secure, has `Path=/` and no `Domain`, so neither
    /// a sibling subdomain nor a plain-http page can plant or overwrite it.
    pub const SESSION_COOKIE: &str = "__Host-sluice_session";
    /// Its name when `SLUICE_SECURE_COOKIES=false` (plain-http development).
    pub const INSECURE_SESSION_COOKIE: &str = "sluice_session";

    #[derive(Clone)]
    pub struct DashboardContext {
        pub sluice: Arc<sluice_engine::Sluice>,
        /// `SLUICE_SECURE_COOKIES`: a `Secure`, `__Host-` session cookie.
        pub secure_cookies: bool,
    }

    impl DashboardContext {
        fn cookie_name(&self) -> &'static str {
            if self.secure_cookies {
                SESSION_COOKIE
            } else {
                INSECURE_SESSION_COOKIE
            }
        }
    }

    /// The engine, as the server provided it. Every route that renders the app must
    /// provide it (the page routes and the fallback do); a missing one is an error
    /// answer, not a panic.
    pub fn context() -> Result<DashboardContext, AppError> {
        use_context::<DashboardContext>().ok_or_else(|| AppError::internal("the dashboard is not wired to the engine"))
    }

    /// `HttpOnly` keeps scripts away from the token; `SameSite=Lax` keeps other sites'
    /// forms from sending it; `Secure` (on unless turned off) keeps it off plain http.
    pub fn session_cookie(ctx: &DashboardContext, token: &str, max_age: u64) -> String {
        let secure = if ctx.secure_cookies { "; Secure" } else { "" };
        let name = ctx.cookie_name();
        format!("{name}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
    }

    /// Where the request came from, as the server's trusted-proxy rules decided.
    pub async fn client_origin() -> ClientOrigin {
        let origin: Option<axum::Extension<ClientOrigin>> = leptos_axum::extract().await.ok();
        origin.map(|axum::Extension(o)| o).unwrap_or_default()
    }

    fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
        headers.get_all(axum::http::header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|line| {
            line.split(';').find_map(|pair| {
                let (k, v) = pair.trim().split_once('=')?;
                (k == name && !v.is_empty()).then(|| v.to_owned())
            })
        })
    }

    /// The request's session and its cookie token, if it has a live one.
    pub async fn session_with_token() -> Result<Option<(String, Session)>, AppError> {
        let ctx = context()?;
        let headers: HeaderMap = leptos_axum::extract().await?;
        let Some(token) = cookie_value(&headers, ctx.cookie_name()) else {
            return Ok(None);
        };
        let session = ctx.sluice.session(&token).await?;
        Ok(session.map(|s| (token, s)))
    }

    /// Whether the browser says this request did not come from another site: a
    /// page another site linked to (`Sec-Fetch-Site: cross-site`) is still shown,
    /// but what a person's look records (acknowledging incidents) is not recorded
    /// for a look someone else's page arranged.
    pub async fn opened_from_this_site() -> bool {
        let headers: Result<HeaderMap, _> = leptos_axum::extract().await;
        headers.is_ok_and(|h| h.get("sec-fetch-site").is_none_or(|v| v.as_bytes() != b"cross-site"))
    }

    pub async fn session() -> Result<Option<Session>, AppError> {
        Ok(session_with_token().await?.map(|(_, s)| s))
    }

    /// Opens a server function that only reads: the engine, the session and its
    /// caller; someone must be signed in (401 otherwise).
    pub async fn reading() -> Result<(DashboardContext, Session, Caller), AppError> {
        let ctx = context()?;
        let (session, caller) = require_caller().await?;
        Ok((ctx, session, caller))
    }

    /// Opens a server function that changes something: as [`reading`], and the
    /// form's CSRF token must match the session's, so another site cannot make a
    /// signed-in browser do it.
    pub async fn changing(csrf: &str) -> Result<(DashboardContext, Session, Caller), AppError> {
        let (ctx, session, caller) = reading().await?;
        check_csrf(&session, csrf)?;
        Ok((ctx, session, caller))
    }

    /// The caller for a server function that needs someone signed in.
    pub async fn require_caller() -> Result<(Session, Caller), AppError> {
        let session = session().await?.ok_or_else(|| AppError::unauthorized("sign in to continue"))?;
        let caller = session.caller();
        Ok((session, caller))
    }

    /// A typed id from a URL or form; a malformed one names nothing, so "not found".
    pub fn parse_id<K: sluice_core::ids::IdKind>(raw: &str) -> Result<sluice_core::ids::Id<K>, AppError> {
        sluice_core::ids::Id::parse(raw.trim()).map_err(|_| AppError::not_found(format!("{} {raw} not found", K::NAME)))
    }

    /// How long a repeat waits for the first submission's answer before it is told 409.
    const IN_FLIGHT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

    /// The bytes that make two submissions of one form the same request: its
    /// arguments, serialised.
    pub fn fingerprint(args: &impl serde::Serialize) -> Result<Vec<u8>, AppError> {
        serde_json::to_vec(args).map_err(|e| AppError::internal(e.to_string()))
    }

    /// Runs a changing server function's action at most once per idempotency key
    /// (what [`submission_key`](super::submission_key) makes), by the engine's
    /// protocol the REST API's `Idempotency-Key` layer follows too: the same key with
    /// the same arguments gets the first successful answer again without acting; with
    /// other arguments, 422. A repeat that arrives while the first still runs waits for
    /// its answer (a few seconds at most, then 409), so a double click shows the first
    /// answer, not an error over it. A failure keeps nothing, so the form can be sent
    /// again. Without a key (a script posting by hand) it simply acts.
    ///
    /// The caller's permission is checked before this, by the server function, so a
    /// kept answer is only ever given to someone who may still ask for it.
    pub async fn once<T, Fut>(
        caller: &Caller,
        form: &str,
        key: Option<&str>,
        fingerprint: Vec<u8>,
        act: Fut,
    ) -> Result<T, AppError>
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        Fut: std::future::Future<Output = Result<T, AppError>> + Send + 'static,
    {
        use sluice_engine::service::{Once, Settle};
        let Some(key) = key.filter(|k| !k.is_empty()) else {
            return act.await;
        };
        let ctx = context()?;
        let path = format!("/api/{form}");
        let settled = async move {
            let value = match act.await {
                Ok(value) => value,
                Err(e) => return Settle::LetGo(Err(e)),
            };
            match serde_json::to_string(&value) {
                Ok(body) => {
                    let kept = sluice_engine::store::StoredAnswer {
                        status: 200,
                        content_type: Some("application/json".into()),
                        location: None,
                        etag: None,
                        body,
                    };
                    Settle::Keep(kept, Ok(value))
                }
                // Done, but the answer cannot be kept: the key stays held.
                Err(e) => Settle::Hold(Err(AppError::internal(e.to_string()))),
            }
        };
        match ctx.sluice.run_once(caller, key, ("POST", &path, &fingerprint), IN_FLIGHT_WAIT, settled).await? {
            // An error made in the action's task is made again here, in the request,
            // so the response carries its status.
            Once::Ran(outcome) => outcome.map_err(|e| AppError::new(e.code, e.message)),
            Once::Replay(answer) => serde_json::from_str(&answer.body).map_err(|e| AppError::internal(e.to_string())),
        }
    }

    /// State-changing server functions take the session's CSRF token in their form.
    pub fn check_csrf(session: &Session, token: &str) -> Result<(), AppError> {
        if sluice_engine::same_secret(&session.csrf_token, token) {
            Ok(())
        } else {
            Err(AppError::new(ErrorCode::Forbidden, "this form is out of date; reload the page and try again"))
        }
    }
}
