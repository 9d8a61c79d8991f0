//! Who is asking, and the proofs of access that only a passed check can produce.
//!
//! Tenant isolation is a type here, not a habit: a service or store method that reads
//! or changes one tenant's data takes a [`TenantScope`], cross-tenant reads take an
//! [`Operator`], platform-wide changes a [`Platform`]. Their fields are private to this
//! module, so the only way to hold one is to ask a [`Caller`] and pass its check; a
//! method that forgets the check does not compile.
//!
//! ```
//! use sluice_engine::{Caller, TenantScope};
//! let caller = Caller::Support { actor: "usr_1".into() };
//! let tenant = sluice_engine::ids::new_id();
//! let scope: TenantScope = caller.tenant(&tenant).expect("support reads every tenant");
//! assert_eq!(scope.id(), &tenant);
//! ```
//!
//! ```compile_fail
//! // Made up rather than checked: does not compile, the fields are private.
//! use sluice_engine::TenantScope;
//! let scope = TenantScope { tenant: sluice_engine::ids::new_id(), actor: "usr_1".into() };
//! ```

use std::ops::Deref;

use sluice_core::ids::TenantId;

use crate::error::{Error, Result};

/// Who is asking: decided once, by authentication (an API key or a session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A platform key or an admin: reaches every tenant.
    Platform { actor: String },
    /// A tenant-scoped key, a partner user or a portal session: reaches one tenant
    /// only. `read_only` (a portal link made so) sees everything of it and changes
    /// nothing, not even a replay.
    Tenant { tenant: TenantId, actor: String, read_only: bool },
    /// A support user: reads every tenant and acts on a partner's behalf where that
    /// mends deliveries (replays, recovers, test events), but changes no endpoint,
    /// secret, key, user or tenant and publishes nothing.
    Support { actor: String },
}

impl Caller {
    /// Who did it, for lifecycle events (`key_…`, `usr_…`).
    pub fn actor(&self) -> &str {
        match self {
            Self::Platform { actor } | Self::Tenant { actor, .. } | Self::Support { actor } => actor,
        }
    }

    /// Access to one tenant's endpoints, messages and deliveries. Another tenant's are
    /// "not found", never "forbidden": a 403 would confirm that the id exists.
    /// The canary's reserved tenant is "not found" to everyone: only the engine's
    /// canary job reaches it, so no caller can read, change or aim its endpoints.
    pub fn tenant(&self, id: &TenantId) -> Result<TenantScope> {
        if id.is_canary() {
            return Err(Error::not_found("tenant", id));
        }
        match self {
            Self::Platform { .. } | Self::Support { .. } => Ok(self.scope(id)),
            Self::Tenant { tenant: own, .. } if own == id => Ok(self.scope(id)),
            Self::Tenant { .. } => Err(Error::not_found("tenant", id)),
        }
    }

    /// Mending one tenant's deliveries: replays, recovers, test events. Everyone who
    /// reaches the tenant, support included, except a read-only portal session.
    pub fn tenant_act(&self, id: &TenantId) -> Result<ActScope> {
        let scope = self.tenant(id)?;
        if let Self::Tenant { read_only: true, .. } = self {
            return Err(read_only_refusal());
        }
        Ok(ActScope(scope))
    }

    /// Changing one tenant's setup or traffic: its endpoints, their signing secrets,
    /// publishing. The tenant itself and the platform; support reads, replays,
    /// recovers and sends test events, and no more.
    pub fn tenant_manage(&self, id: &TenantId) -> Result<ManageScope> {
        if let Self::Support { .. } = self {
            return Err(Error::Forbidden(
                "support reads every tenant and may replay, recover and send test events; changing endpoints, \
                 secrets or keys and publishing need the tenant or an admin"
                    .into(),
            ));
        }
        self.tenant_act(id).map(ManageScope)
    }

    /// Platform-wide changes: tenants, tiers, users, platform keys, retention.
    pub fn platform(&self) -> Result<Platform> {
        match self {
            Self::Platform { actor } => Ok(Platform { actor: actor.clone() }),
            Self::Support { .. } => Err(Error::Forbidden(
                "support cannot change tenants, users, keys or settings: this needs a platform API key or an admin"
                    .into(),
            )),
            Self::Tenant { .. } => Err(Error::Forbidden("this needs a platform API key or an admin".into())),
        }
    }

    /// Cross-tenant views (triage, search, node status) for admins and support.
    pub fn operator(&self) -> Result<Operator> {
        match self {
            Self::Platform { actor } | Self::Support { actor } => Ok(Operator { actor: actor.clone() }),
            Self::Tenant { .. } => Err(Error::Forbidden("this is for admins and support".into())),
        }
    }

    fn scope(&self, id: &TenantId) -> TenantScope {
        TenantScope { tenant: id.clone(), actor: self.actor().to_owned() }
    }
}

fn read_only_refusal() -> Error {
    Error::Forbidden("this session is read-only: it may look at the tenant's deliveries but change nothing".into())
}

/// Proof that the caller may read one tenant's resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantScope {
    tenant: TenantId,
    actor: String,
}

impl TenantScope {
    pub fn id(&self) -> &TenantId {
        &self.tenant
    }

    pub fn actor(&self) -> &str {
        &self.actor
    }
}

/// Proof that the caller may also mend the tenant's deliveries: replay, recover, send
/// test events. It is a [`TenantScope`] too (through `Deref`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActScope(TenantScope);

impl Deref for ActScope {
    type Target = TenantScope;

    fn deref(&self) -> &TenantScope {
        &self.0
    }
}

/// Proof that the caller may also change the tenant's endpoints, see and rotate their
/// secrets, and publish. It is an [`ActScope`] too (through `Deref`), so it opens
/// everything that one and a [`TenantScope`] do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManageScope(ActScope);

impl Deref for ManageScope {
    type Target = ActScope;

    fn deref(&self) -> &ActScope {
        &self.0
    }
}

/// Proof of a platform caller (platform key or admin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    actor: String,
}

impl Platform {
    /// The engine's own jobs (bootstrap, retention) act as the platform. Crate-private:
    /// outside the engine, a `Platform` comes only from a checked [`Caller`].
    pub(crate) fn system(actor: impl Into<String>) -> Self {
        Self { actor: actor.into() }
    }

    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// The platform reaches every tenant but the canary's reserved one, which is "not
    /// found" to it as to every caller.
    pub fn tenant(&self, id: &TenantId) -> Result<ManageScope> {
        if id.is_canary() {
            return Err(Error::not_found("tenant", id));
        }
        Ok(ManageScope(ActScope(TenantScope { tenant: id.clone(), actor: self.actor.clone() })))
    }

    /// The canary's reserved tenant, for the engine's canary job only.
    pub(crate) fn canary_tenant(&self) -> ManageScope {
        ManageScope(ActScope(TenantScope { tenant: TenantId::canary(), actor: self.actor.clone() }))
    }
}

/// Proof of an operator (admin or support), for reads across tenants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    actor: String,
}

impl Operator {
    /// The engine's own reads across tenants (a metrics scrape). Crate-private, as
    /// [`Platform::system`].
    pub(crate) fn system(actor: impl Into<String>) -> Self {
        Self { actor: actor.into() }
    }

    pub fn actor(&self) -> &str {
        &self.actor
    }
}

/// Which tenants a read spans: one the caller may see, or all of them for an operator.
#[derive(Debug, Clone, Copy)]
pub enum Reach<'a> {
    Tenant(&'a TenantScope),
    AllTenants(&'a Operator),
}

/// Which audit entries a reading covers: one tenant's, for the tenant itself (its
/// partners and keys) or the platform, or every entry, for the platform. Support
/// reads neither: the trail records what people did, support's own actions included.
#[derive(Debug, Clone, Copy)]
pub enum AuditReach<'a> {
    Tenant(&'a ManageScope),
    All(&'a Platform),
}

/// Which API keys a listing covers: one tenant's, for a caller who may see its keys,
/// or every key, for the platform. (Not a [`Reach`]: support is an operator but must
/// not list keys.)
#[derive(Debug, Clone, Copy)]
pub enum KeyReach<'a> {
    Tenant(&'a ManageScope),
    AllKeys(&'a Platform),
}

impl Reach<'_> {
    /// The tenant to filter on, or `None` for all.
    pub fn tenant_id(&self) -> Option<&TenantId> {
        match self {
            Self::Tenant(scope) => Some(scope.id()),
            Self::AllTenants(_) => None,
        }
    }
}

impl KeyReach<'_> {
    /// The tenant to filter on, or `None` for all.
    pub fn tenant_id(&self) -> Option<&TenantId> {
        match self {
            Self::Tenant(scope) => Some(scope.id()),
            Self::AllKeys(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_gets_exactly_its_proofs() {
        let mine: TenantId = crate::ids::new_id();
        let other: TenantId = crate::ids::new_id();
        let platform = Caller::Platform { actor: "key_p".into() };
        let support = Caller::Support { actor: "usr_s".into() };
        let partner = Caller::Tenant { tenant: mine.clone(), actor: "key_t".into(), read_only: false };
        let viewer = Caller::Tenant { tenant: mine.clone(), actor: "pl_v".into(), read_only: true };

        assert_eq!(partner.tenant(&mine).expect("own tenant").id(), &mine);
        assert_eq!(partner.tenant(&other).expect_err("other tenant").code(), sluice_core::ErrorCode::NotFound);
        assert!(partner.tenant_manage(&mine).is_ok());
        assert!(partner.tenant_manage(&other).is_err());
        assert!(partner.platform().is_err());
        assert!(partner.operator().is_err());

        assert!(partner.tenant_act(&mine).is_ok());

        // Read-only: reads its tenant, mends and changes nothing; another tenant is
        // hidden, not refused.
        assert_eq!(viewer.tenant(&mine).expect("own tenant").id(), &mine);
        assert_eq!(viewer.tenant_act(&mine).expect_err("read-only").code(), sluice_core::ErrorCode::Forbidden);
        assert_eq!(viewer.tenant_manage(&mine).expect_err("read-only").code(), sluice_core::ErrorCode::Forbidden);
        assert_eq!(viewer.tenant_act(&other).expect_err("other").code(), sluice_core::ErrorCode::NotFound);
        assert!(viewer.platform().is_err());
        assert!(viewer.operator().is_err());

        assert!(support.tenant(&other).is_ok());
        assert!(support.tenant_act(&other).is_ok());
        assert_eq!(support.tenant_manage(&mine).expect_err("support").code(), sluice_core::ErrorCode::Forbidden);
        assert!(support.platform().is_err());
        assert!(support.operator().is_ok());

        assert!(platform.tenant(&other).is_ok());
        assert!(platform.tenant_manage(&other).is_ok());
        assert_eq!(platform.platform().expect("platform").actor(), "key_p");
        assert!(platform.operator().is_ok());
    }
}

/// Whether two secrets (a CSRF token, a bearer token) are equal, compared in time that
/// does not depend on where they differ, so timing does not reveal a prefix.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Where a request came from, as the server decided with its trusted-proxy rules: the
/// client's address (for sign-in throttling and the audit trail) and whether the
/// client used https. `ip` is `None` when unknown (a request made in-process).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientOrigin {
    pub ip: Option<std::net::IpAddr>,
    pub https: bool,
}
