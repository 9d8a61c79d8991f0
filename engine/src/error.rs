//! The engine's error type: what a service call can fail with, in terms a front door
//! (REST handler or server function) maps to a response in one place.

use sluice_core::{ErrorCode, FieldError};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such resource, or one the caller may not see (never says which).
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    /// Authenticated, but not allowed to do this.
    #[error("{0}")]
    Forbidden(String),
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    Conflict(String),
    #[error("the resource changed since you read it (current version {current})")]
    PreconditionFailed { current: i64 },
    #[error("idempotency key {0:?} was used with a different request")]
    IdempotencyKeyReused(String),
    #[error("a request with idempotency key {0:?} is still being answered; retry shortly")]
    IdempotencyKeyInFlight(String),
    #[error("this would queue {wanted} deliveries; the tenant has {pending} pending of its cap of {cap}")]
    BacklogFull { cap: i64, pending: i64, wanted: i64, retry_after_seconds: u64 },
    #[error("{0}")]
    QuotaExceeded(String),
    /// The tenant is suspended: nothing may be queued for it.
    #[error("tenant {0} is suspended: it publishes and is delivered nothing until the platform resumes it")]
    TenantSuspended(String),
    /// Not signed in, or the credentials are wrong (never says which part).
    #[error("{0}")]
    Unauthorized(String),
    /// Too many attempts; try again after the given seconds.
    #[error("too many attempts; try again in {retry_after_seconds} s")]
    RateLimited { retry_after_seconds: u64 },
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn not_found(kind: &'static str, id: impl ToString) -> Self {
        Self::NotFound { kind, id: id.to_string() }
    }

    /// `PreconditionFailed` when the caller named a version (`If-Match`) that is not
    /// `current`: their copy is stale, and writing would undo a change they never saw.
    pub fn require_version(if_match: Option<i64>, current: i64) -> Result<()> {
        match if_match {
            Some(expected) if expected != current => Err(Self::PreconditionFailed { current }),
            _ => Ok(()),
        }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::Validation(_) => ErrorCode::ValidationFailed,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::PreconditionFailed { .. } => ErrorCode::PreconditionFailed,
            Self::IdempotencyKeyReused(_) => ErrorCode::IdempotencyKeyReused,
            Self::IdempotencyKeyInFlight(_) => ErrorCode::IdempotencyKeyInFlight,
            Self::BacklogFull { .. } => ErrorCode::BacklogFull,
            Self::QuotaExceeded(_) => ErrorCode::QuotaExceeded,
            Self::TenantSuspended(_) => ErrorCode::TenantSuspended,
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match e {
            // The database is unreachable or overloaded: the client should retry.
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable(e.to_string())
            }
            sqlx::Error::Database(ref db) if is_busy(db.as_ref()) => Self::Unavailable(e.to_string()),
            // PostgreSQL refuses U+0000 in text (SQLSTATE 22021). The API refuses such
            // text before it gets here; this keeps any other way in (a dashboard form)
            // from turning it into a 500.
            sqlx::Error::Database(ref db) if db.code().as_deref() == Some("22021") => {
                Self::Validation(vec![FieldError::new("text", "may not contain the NUL character")])
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

/// SQLite's "database is locked" and PostgreSQL's admin/connection failures are
/// transient, not bugs.
fn is_busy(db: &dyn sqlx::error::DatabaseError) -> bool {
    let code = db.code();
    let code = code.as_deref().unwrap_or("");
    matches!(code, "5" | "6" | "517" | "57P01" | "57P02" | "57P03" | "53300") || code.starts_with("08")
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self::Internal(format!("stored JSON is invalid: {e}"))
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Self::Internal(format!("migration failed: {e}"))
    }
}
