//! Messages and deliveries: publish, read, replay; the delivery log and its attempts.

use sha2::{Digest, Sha256};
use sluice_core::ids::{DeliveryId, EndpointId, MessageId};
use sluice_core::model::*;
use sluice_core::validate::{self, Errors};

use super::{finish_page, page_args, ActScope, ManageScope, Sluice, TenantScope};
use crate::error::{Error, Result};
use crate::ids::now_ms;
use crate::store::{DeliveryFilter, LifecycleEvent, MessageFilter, NewMessage, PublishResult};

/// What publishing returned.
#[derive(Debug, Clone)]
pub struct Published {
    pub message: Message,
    /// True when the idempotency key matched an earlier identical request: nothing new
    /// was queued and this is the first answer again.
    pub replayed: bool,
}

/// A request's fingerprint for idempotency: event type and payload, with the payload
/// normalised so that whitespace and key order do not make a retry look different.
fn request_hash(event_type: &str, payload: &str) -> Result<String> {
    let canonical = serde_json::from_str::<serde_json::Value>(payload)
        .map_err(|e| Error::invalid("payload", e.to_string()))?
        .to_string();
    let mut h = Sha256::new();
    h.update(event_type.as_bytes());
    h.update([0u8]);
    h.update(canonical.as_bytes());
    Ok(hex::encode(h.finalize()))
}

/// Parses an RFC 3339 time filter.
pub fn parse_time(field: &str, value: Option<&str>) -> Result<Option<i64>> {
    value
        .map(|v| {
            chrono::DateTime::parse_from_rfc3339(v)
                .map(|t| t.timestamp_millis())
                .map_err(|_| Error::invalid(field, "must be an RFC 3339 time such as 2026-01-31T12:00:00Z"))
        })
        .transpose()
}

impl Sluice {
    /// Queues a message for every subscribed, enabled endpoint of the tenant. Nothing is
    /// sent here: the workers are woken and take it from the queue.
    pub async fn publish(
        &self,
        tenant: &ManageScope,
        req: PublishMessage,
        idempotency_key: Option<String>,
    ) -> Result<Published> {
        let started = std::time::Instant::now();
        let mut errors = Errors::default();
        errors.check(validate::publishable_event_type(&req.event_type), "event_type");
        if let Some(k) = &idempotency_key {
            errors.check(validate::idempotency_key(k), "Idempotency-Key");
        }
        errors.into_result().map_err(Error::Validation)?;
        let facts = self.tenant_facts(tenant).await?;
        let hash = request_hash(&req.event_type, req.payload.get())?;
        if let Err(full) = facts.admit(tenant.id(), facts.fan_out(&req.event_type)) {
            // A retry of a request we already accepted still gets its answer.
            if let Some(key) = &idempotency_key {
                if let Some(existing) = self.existing_by_key(tenant, key, &hash).await? {
                    return Ok(existing);
                }
            }
            return Err(full);
        }
        let new = NewMessage {
            id: crate::ids::new_id(),
            tenant_id: tenant.id().clone(),
            event_type: req.event_type,
            payload: req.payload.get().to_owned(),
            idempotency_key: idempotency_key.clone(),
            request_hash: Some(hash.clone()),
            created_at_ms: now_ms(),
            only_endpoint: None,
        };
        match self.enqueue(new).await? {
            PublishResult::Created { message, .. } => {
                self.telemetry.published(started.elapsed());
                Ok(Published { message, replayed: false })
            }
            PublishResult::Existing { message, request_hash } => {
                if request_hash.as_deref() == Some(hash.as_str()) {
                    Ok(Published { message, replayed: true })
                } else {
                    Err(Error::IdempotencyKeyReused(idempotency_key.unwrap_or_default()))
                }
            }
        }
    }

    /// Sends a `sluice.test` event to one endpoint (whatever its event filter), through
    /// the queue like any message, so its attempt shows in the log like any other.
    pub async fn send_test_event(&self, tenant: &ActScope, endpoint: &EndpointId) -> Result<Message> {
        let e = self.get_endpoint(tenant, endpoint).await?;
        if e.status != EndpointStatus::Enabled {
            return Err(Error::Conflict("the endpoint is disabled; enable it to send a test event".into()));
        }
        self.admit(tenant, 1).await?;
        let payload = serde_json::json!({ "test": true, "endpoint_id": endpoint, "sent_by": tenant.actor() });
        let new = NewMessage {
            id: crate::ids::new_id(),
            tenant_id: tenant.id().clone(),
            event_type: "sluice.test".into(),
            payload: payload.to_string(),
            idempotency_key: None,
            request_hash: None,
            created_at_ms: now_ms(),
            only_endpoint: Some(endpoint.clone()),
        };
        match self.enqueue(new).await? {
            PublishResult::Created { message, .. } => Ok(message),
            PublishResult::Existing { .. } => Err(Error::Internal("a test event without a key matched another".into())),
        }
    }

    /// Hands a message to the group-commit queue; once committed, counts its deliveries
    /// into the tenant's backlog and wakes the workers if there is anything to send.
    pub(super) async fn enqueue(&self, new: NewMessage) -> Result<PublishResult> {
        let tenant = new.tenant_id.clone();
        let queue = self
            .publish_queue
            .get_or_init(|| super::publish_queue::PublishQueue::start(self.store.clone(), self.telemetry.clone()));
        let result = queue.publish(new).await?;
        if let PublishResult::Created { deliveries, .. } = &result {
            self.add_backlog(&tenant, *deliveries);
            // On PostgreSQL the commit's NOTIFY names the endpoints to this node's
            // dispatcher too, which then need not scan for them; a wake-up here
            // would ask it to scan (`crate::wake`).
            if *deliveries > 0 && !self.store.announces_publishes() {
                self.wake.notify_one();
            }
        }
        Ok(result)
    }

    async fn existing_by_key(&self, tenant: &TenantScope, key: &str, hash: &str) -> Result<Option<Published>> {
        match self.store.message_by_idempotency_key(tenant, key).await? {
            Some((message, stored)) if stored.as_deref() == Some(hash) => {
                Ok(Some(Published { message, replayed: true }))
            }
            Some(_) => Err(Error::IdempotencyKeyReused(key.to_owned())),
            None => Ok(None),
        }
    }

    pub async fn get_message(&self, tenant: &TenantScope, id: &MessageId) -> Result<Message> {
        self.store.get_message(tenant, id).await?.ok_or_else(|| Error::not_found("message", id))
    }

    pub async fn list_messages(
        &self,
        tenant: &TenantScope,
        filter: MessageFilter,
        limit: Option<i64>,
        cursor: Option<String>,
    ) -> Result<Page<Message>> {
        self.get_tenant(tenant).await?;
        if let Some(t) = &filter.event_type {
            validate::event_type(t).map_err(|e| Error::invalid("event_type", e))?;
        }
        let page = page_args(limit, cursor)?;
        let rows = self.store.list_messages(tenant, &filter, &page).await?;
        Ok(finish_page(rows, &page, |m| m.id.to_string()))
    }

    /// Sends a message again, to all its endpoints or one. The receiver sees the same
    /// `webhook-id`, so it can deduplicate.
    pub async fn replay_message(
        &self,
        tenant: &ActScope,
        id: &MessageId,
        req: ReplayMessage,
    ) -> Result<ReplayAccepted> {
        let message = self.get_message(tenant, id).await?;
        let facts = self.tenant_facts(tenant).await?;
        match &req.endpoint_id {
            Some(endpoint) => {
                self.get_endpoint(tenant, endpoint).await?;
                facts.admit(tenant.id(), 1)?;
            }
            // The endpoints subscribed now, which is what a replay queues for (plus
            // any it already had deliveries to, which it re-queues: at most those).
            None => facts.admit(tenant.id(), facts.fan_out(&message.event_type).max(1))?,
        }
        let queued = self.store.replay(tenant, id, req.endpoint_id.as_ref(), AttemptTrigger::Manual, now_ms()).await?;
        let event = LifecycleEvent::new(
            Some(tenant.id()),
            LifecycleKind::ReplayRequested,
            id.as_str(),
            tenant.actor(),
            serde_json::json!({ "endpoint_id": req.endpoint_id, "deliveries": queued }),
        );
        self.store.insert_event(&event).await?;
        if !queued.is_empty() {
            self.add_backlog(tenant.id(), queued.len());
            self.wake.notify_one();
        }
        Ok(ReplayAccepted { message_id: id.clone(), deliveries: queued })
    }

    pub async fn list_deliveries(
        &self,
        tenant: &TenantScope,
        filter: DeliveryFilter,
        limit: Option<i64>,
        cursor: Option<String>,
    ) -> Result<Page<Delivery>> {
        self.get_tenant(tenant).await?;
        if let Some(t) = &filter.event_type {
            validate::event_type(t).map_err(|e| Error::invalid("event_type", e))?;
        }
        let page = page_args(limit, cursor)?;
        let rows = self.store.list_deliveries(tenant, &filter, &page).await?;
        Ok(finish_page(rows, &page, |d| d.id.to_string()))
    }

    pub async fn get_delivery(&self, tenant: &TenantScope, id: &DeliveryId) -> Result<Delivery> {
        self.store.get_delivery(tenant, id).await?.ok_or_else(|| Error::not_found("delivery", id))
    }

    pub async fn list_attempts(
        &self,
        tenant: &TenantScope,
        delivery: &DeliveryId,
        limit: Option<i64>,
        cursor: Option<String>,
    ) -> Result<Page<Attempt>> {
        self.get_delivery(tenant, delivery).await?;
        let page = page_args(limit, cursor)?;
        let rows = self.store.list_attempts(tenant, delivery, &page).await?;
        Ok(finish_page(rows, &page, |a| a.id.to_string()))
    }
}
