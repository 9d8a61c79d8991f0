//! A typed client for Sluice's REST API v1, on the same `core` types the server
//! answers with: a request that compiles is shaped as the API takes it, and a
//! problem+json answer becomes an [`Error::Problem`] with its stable `code`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sluice_client::Error> {
//! use sluice_client::Client;
//! use sluice_core::model::{CreateEndpoint, CreateTenant};
//!
//! let sluice = Client::new("http://127.0.0.1:3000", "sk_dev_local_only_change_me")?;
//! let tenant = sluice.create_tenant(&CreateTenant { name: "Acme".into(), ..Default::default() }).await?;
//! let endpoint = CreateEndpoint { url: "https://example.com/hooks".into(), ..Default::default() };
//! sluice.create_endpoint(&tenant.id, &endpoint).await?;
//! sluice.publish(&tenant.id, "invoice.paid", &serde_json::json!({ "id": "in_1" }), None).await?;
//! # Ok(()) }
//! ```

mod error;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sluice_core::ids::{DeliveryId, EndpointId, MessageId, TenantId};
use sluice_core::model::{
    Attempt, CreateEndpoint, CreateTenant, Delivery, Endpoint, EndpointSecrets, Message, MessageDeliveries, Page,
    PatchTenant, PublishMessage, ReplayAccepted, ReplayMessage, SuspendTenant, Tenant, TenantDeletion,
};

pub use error::{Error, Problem};

/// A client for one Sluice, authenticated with one API key. Cheap to clone: clones
/// share the connection pool.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

/// Which page of a list: at most `limit` (1 to 250), after `cursor` (the previous
/// page's `next_cursor`).
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

impl PageRequest {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(limit) = self.limit {
            q.push(("limit", limit.to_string()));
        }
        if let Some(cursor) = &self.cursor {
            q.push(("cursor", cursor.clone()));
        }
        q
    }
}

impl Client {
    /// `base` is where Sluice answers (`http://host:port`, no `/v1`); `api_key` a
    /// platform key or a tenant's.
    pub fn new(base: &str, api_key: &str) -> Result<Self, Error> {
        Ok(Self::with_http(reqwest::Client::builder().build()?, base, api_key))
    }

    /// As [`Client::new`], with a `reqwest::Client` configured by the caller (timeouts,
    /// pool size).
    pub fn with_http(http: reqwest::Client, base: &str, api_key: &str) -> Self {
        Self { http, base: base.trim_end_matches('/').to_owned(), key: api_key.to_owned() }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}/v1{path}", self.base)).bearer_auth(&self.key)
    }

    /// Sends, and reads a success as `T` or anything else as the problem it is.
    async fn send<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T, Error> {
        let response = request.send().await?;
        let status = response.status();
        if status.is_success() {
            return Ok(response.json().await?);
        }
        Err(error::problem_of(status, response).await)
    }

    async fn send_empty(&self, request: reqwest::RequestBuilder) -> Result<(), Error> {
        let response = request.send().await?;
        let status = response.status();
        if status == StatusCode::NO_CONTENT || status.is_success() {
            return Ok(());
        }
        Err(error::problem_of(status, response).await)
    }

    fn post<B: Serialize + ?Sized>(&self, path: &str, body: &B) -> reqwest::RequestBuilder {
        self.request(Method::POST, path).json(body)
    }

    pub async fn create_tenant(&self, req: &CreateTenant) -> Result<Tenant, Error> {
        self.send(self.post("/tenants", req)).await
    }

    pub async fn get_tenant(&self, tenant: &TenantId) -> Result<Tenant, Error> {
        self.send(self.request(Method::GET, &format!("/tenants/{tenant}"))).await
    }

    pub async fn list_tenants(&self, page: &PageRequest) -> Result<Page<Tenant>, Error> {
        self.send(self.request(Method::GET, "/tenants").query(&page.query())).await
    }

    /// Changes a tenant; with `if_version`, only if it is still at that version
    /// (else [`Error::Problem`] with code `precondition_failed`).
    pub async fn patch_tenant(
        &self,
        tenant: &TenantId,
        req: &PatchTenant,
        if_version: Option<i64>,
    ) -> Result<Tenant, Error> {
        let mut request = self.request(Method::PATCH, &format!("/tenants/{tenant}")).json(req);
        if let Some(version) = if_version {
            request = request.header("if-match", format!("\"{version}\""));
        }
        self.send(request).await
    }

    pub async fn suspend_tenant(&self, tenant: &TenantId, reason: Option<&str>) -> Result<Tenant, Error> {
        let req = SuspendTenant { reason: reason.map(str::to_owned) };
        self.send(self.post(&format!("/tenants/{tenant}/suspend"), &req)).await
    }

    pub async fn resume_tenant(&self, tenant: &TenantId) -> Result<Tenant, Error> {
        self.send(self.request(Method::POST, &format!("/tenants/{tenant}/resume"))).await
    }

    /// Deletes a tenant; answers the deletion, whose progress [`Client::tenant_deletion`]
    /// reads.
    pub async fn delete_tenant(&self, tenant: &TenantId) -> Result<TenantDeletion, Error> {
        self.send(self.request(Method::DELETE, &format!("/tenants/{tenant}"))).await
    }

    pub async fn tenant_deletion(&self, tenant: &TenantId) -> Result<TenantDeletion, Error> {
        self.send(self.request(Method::GET, &format!("/tenants/{tenant}/deletion"))).await
    }

    pub async fn create_endpoint(&self, tenant: &TenantId, req: &CreateEndpoint) -> Result<Endpoint, Error> {
        self.send(self.post(&format!("/tenants/{tenant}/endpoints"), req)).await
    }

    pub async fn get_endpoint(&self, tenant: &TenantId, endpoint: &EndpointId) -> Result<Endpoint, Error> {
        self.send(self.request(Method::GET, &format!("/tenants/{tenant}/endpoints/{endpoint}"))).await
    }

    pub async fn list_endpoints(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page<Endpoint>, Error> {
        self.send(self.request(Method::GET, &format!("/tenants/{tenant}/endpoints")).query(&page.query())).await
    }

    pub async fn delete_endpoint(&self, tenant: &TenantId, endpoint: &EndpointId) -> Result<(), Error> {
        self.send_empty(self.request(Method::DELETE, &format!("/tenants/{tenant}/endpoints/{endpoint}"))).await
    }

    /// The endpoint's signing secrets (recorded as `secret.revealed`).
    pub async fn endpoint_secrets(&self, tenant: &TenantId, endpoint: &EndpointId) -> Result<EndpointSecrets, Error> {
        self.send(self.request(Method::GET, &format!("/tenants/{tenant}/endpoints/{endpoint}/secret"))).await
    }

    /// Publishes an event. With `idempotency_key`, a retry of the same request answers
    /// the message accepted the first time.
    pub async fn publish<P: Serialize + ?Sized>(
        &self,
        tenant: &TenantId,
        event_type: &str,
        payload: &P,
        idempotency_key: Option<&str>,
    ) -> Result<Message, Error> {
        let payload = serde_json::value::to_raw_value(payload)?;
        self.publish_message(tenant, &PublishMessage { event_type: event_type.to_owned(), payload }, idempotency_key)
            .await
    }

    /// [`Client::publish`] with the request already built.
    pub async fn publish_message(
        &self,
        tenant: &TenantId,
        req: &PublishMessage,
        idempotency_key: Option<&str>,
    ) -> Result<Message, Error> {
        let mut request = self.post(&format!("/tenants/{tenant}/messages"), req);
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        self.send(request).await
    }

    pub async fn get_message(&self, tenant: &TenantId, message: &MessageId) -> Result<Message, Error> {
        self.send(self.request(Method::GET, &format!("/tenants/{tenant}/messages/{message}"))).await
    }

    /// The message's deliveries, each with its endpoint's URL and its attempts.
    pub async fn message_deliveries(&self, tenant: &TenantId, message: &MessageId) -> Result<MessageDeliveries, Error> {
        self.send(self.request(Method::GET, &format!("/tenants/{tenant}/messages/{message}/deliveries"))).await
    }

    /// Delivers the message again: to every endpoint it went to, or to `endpoint`.
    pub async fn replay(
        &self,
        tenant: &TenantId,
        message: &MessageId,
        endpoint: Option<&EndpointId>,
    ) -> Result<ReplayAccepted, Error> {
        let req = ReplayMessage { endpoint_id: endpoint.cloned() };
        self.send(self.post(&format!("/tenants/{tenant}/messages/{message}/replay"), &req)).await
    }

    pub async fn list_deliveries(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page<Delivery>, Error> {
        self.send(self.request(Method::GET, &format!("/tenants/{tenant}/deliveries")).query(&page.query())).await
    }

    pub async fn list_attempts(
        &self,
        tenant: &TenantId,
        delivery: &DeliveryId,
        page: &PageRequest,
    ) -> Result<Page<Attempt>, Error> {
        let path = format!("/tenants/{tenant}/deliveries/{delivery}/attempts");
        self.send(self.request(Method::GET, &path).query(&page.query())).await
    }
}
