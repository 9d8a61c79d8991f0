//! A message's deliveries, each with its endpoint's URL and every attempt: what the
//! message page shows and `GET .../messages/{message}/deliveries` returns, assembled
//! in three queries however many endpoints the message went to.

use std::collections::HashMap;

use sluice_core::ids::MessageId;
use sluice_core::model::DeliveryDetail;

use super::{Sluice, TenantScope};
use crate::error::Result;
use crate::store::{DeliveryFilter, PageArgs};

/// Deliveries per message shown at most (one per endpoint it went to).
const MAX_DELIVERIES: i64 = 250;

impl Sluice {
    pub async fn message_deliveries(&self, tenant: &TenantScope, message: &MessageId) -> Result<Vec<DeliveryDetail>> {
        self.get_message(tenant, message).await?;
        let filter = DeliveryFilter { message_id: Some(message.clone()), ..Default::default() };
        let page = PageArgs { limit: MAX_DELIVERIES, before: None };
        let deliveries = self.store.list_deliveries(tenant, &filter, &page).await?;
        let delivery_ids: Vec<_> = deliveries.iter().map(|d| d.id.clone()).collect();
        let mut attempts: HashMap<_, Vec<_>> = HashMap::new();
        for a in self.store.attempts_of(tenant, &delivery_ids).await? {
            attempts.entry(a.delivery_id.clone()).or_default().push(a);
        }
        let mut endpoint_ids: Vec<_> = deliveries.iter().map(|d| d.endpoint_id.clone()).collect();
        endpoint_ids.sort();
        endpoint_ids.dedup();
        let urls: HashMap<_, _> =
            self.store.endpoints_by_id(tenant, &endpoint_ids).await?.into_iter().map(|e| (e.id, e.url)).collect();
        Ok(deliveries
            .into_iter()
            .map(|delivery| DeliveryDetail {
                endpoint_url: urls.get(&delivery.endpoint_id).cloned(),
                attempts: attempts.remove(&delivery.id).unwrap_or_default(),
                delivery,
            })
            .collect())
    }
}
