//! Delivery success by endpoint label (`kind=erp`), for the tenant overview: the case
//! study's "success by endpoint type", from each endpoint's last 24 hours.

use std::collections::{BTreeMap, HashMap};

use sluice_core::ids::EndpointId;
use sluice_core::model::LabelSuccess;

use super::{Sluice, TenantScope};
use crate::error::Result;
use crate::store::EndpointHealthRow;

const DAY_MS: i64 = 86_400_000;

impl Sluice {
    /// The tenant's deliveries finished over the last 24 hours, by label.
    pub(super) async fn success_by_label(&self, tenant: &TenantScope, now_ms: i64) -> Result<Vec<LabelSuccess>> {
        let labels = self.store.endpoint_labels(tenant).await?;
        if labels.is_empty() {
            // Most tenants label nothing: no scan for them.
            return Ok(Vec::new());
        }
        let counts = self.store.endpoint_health(tenant, now_ms - DAY_MS).await?;
        Ok(by_label(&labels, &counts))
    }
}

/// Sums each endpoint's counts into every label it has; most deliveries first, then by
/// label, so the order is stable.
fn by_label(labels: &[(EndpointId, BTreeMap<String, String>)], counts: &[EndpointHealthRow]) -> Vec<LabelSuccess> {
    let counts: HashMap<&EndpointId, &EndpointHealthRow> = counts.iter().map(|c| (&c.endpoint_id, c)).collect();
    let mut sums: BTreeMap<String, LabelSuccess> = BTreeMap::new();
    for (endpoint, endpoint_labels) in labels {
        let (succeeded, failed) = counts.get(endpoint).map_or((0, 0), |c| (c.succeeded, c.failed));
        for (key, value) in endpoint_labels {
            let label = format!("{key}={value}");
            let sum =
                sums.entry(label.clone()).or_insert(LabelSuccess { label, endpoints: 0, succeeded: 0, failed: 0 });
            sum.endpoints += 1;
            sum.succeeded += succeeded;
            sum.failed += failed;
        }
    }
    let mut out: Vec<LabelSuccess> = sums.into_values().collect();
    out.sort_by(|a, b| (b.succeeded + b.failed).cmp(&(a.succeeded + a.failed)).then_with(|| a.label.cmp(&b.label)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_endpoint_counts_in_every_label_it_has() {
        let (a, b, c): (EndpointId, EndpointId, EndpointId) =
            (crate::ids::new_id(), crate::ids::new_id(), crate::ids::new_id());
        let labels = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        let endpoints = vec![
            (a.clone(), labels(&[("kind", "erp"), ("region", "eu")])),
            (b.clone(), labels(&[("kind", "erp")])),
            (c.clone(), labels(&[("kind", "crm")])),
        ];
        let row = |id: &EndpointId, succeeded, failed| EndpointHealthRow {
            endpoint_id: id.clone(),
            succeeded,
            failed,
            last_error_class: None,
            last_response_status: None,
        };
        let got = by_label(&endpoints, &[row(&a, 8, 2), row(&b, 10, 0)]);
        let got: Vec<(&str, i64, i64, i64)> =
            got.iter().map(|l| (l.label.as_str(), l.endpoints, l.succeeded, l.failed)).collect();
        assert_eq!(got, [("kind=erp", 2, 18, 2), ("region=eu", 1, 8, 2), ("kind=crm", 1, 0, 0)]);
    }
}
