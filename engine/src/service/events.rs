//! Lifecycle events, the read side: what happened to a tenant's endpoints, secrets
//! and deliveries, filtered and paged, for `GET /v1/tenants/{tenant}/events`,
//! `GET /v1/events` and the dashboard. The services write them, in the transaction of
//! the change they describe.

use sluice_core::model::{ActivityEvent, LifecycleKind, Page};

use super::{finish_page, page_args, parse_time, Reach, Sluice};
use crate::error::{Error, Result};
use crate::store::EventFilter;

/// A listing's filters as the caller wrote them, before they are checked.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// A whole type (`endpoint.disabled`) or every type of a subject (`endpoint`).
    pub kind: Option<String>,
    pub subject_id: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

impl EventQuery {
    fn filter(self) -> Result<EventFilter> {
        let mut filter = EventFilter {
            subject_id: self.subject_id.filter(|s| !s.is_empty()),
            since_ms: parse_time("since", self.since.as_deref())?,
            until_ms: parse_time("until", self.until.as_deref())?,
            ..EventFilter::default()
        };
        if let (Some(since), Some(until)) = (filter.since_ms, filter.until_ms) {
            if until <= since {
                return Err(Error::invalid("until", "must be later than since"));
            }
        }
        match self.kind.as_deref().filter(|k| !k.is_empty()) {
            None => {}
            Some(kind) => match LifecycleKind::parse(kind) {
                Some(kind) => filter.kind = Some(kind),
                None if LifecycleKind::ALL.iter().any(|k| k.subject() == kind) => {
                    filter.subject_kind = Some(kind.to_owned());
                }
                None => {
                    let known: Vec<&str> = LifecycleKind::ALL.iter().map(|k| k.as_str()).collect();
                    return Err(Error::invalid(
                        "type",
                        format!("must be one of {} or their subject", known.join(", ")),
                    ));
                }
            },
        }
        Ok(filter)
    }
}

impl Sluice {
    /// Lifecycle events, newest first: one tenant's, or every tenant's for operators.
    pub async fn list_events(
        &self,
        reach: Reach<'_>,
        query: EventQuery,
        limit: Option<i64>,
        cursor: Option<String>,
    ) -> Result<Page<ActivityEvent>> {
        let mut filter = query.filter()?;
        if let Reach::Tenant(scope) = reach {
            self.get_tenant(scope).await?;
            filter.tenant = Some(scope.id().clone());
        }
        let page = page_args(limit, cursor)?;
        let rows = self.store.list_events(&filter, &page).await?;
        Ok(finish_page(rows, &page, |e| e.id.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(kind: &str) -> EventQuery {
        EventQuery { kind: Some(kind.into()), ..EventQuery::default() }
    }

    #[test]
    fn a_type_is_a_whole_kind_or_a_subject_and_nothing_else() {
        assert_eq!(query("endpoint.disabled").filter().expect("kind").kind, Some(LifecycleKind::EndpointDisabled));
        assert_eq!(query("secret").filter().expect("subject").subject_kind.as_deref(), Some("secret"));
        assert!(query("endpoint.%").filter().is_err(), "no wildcards of the caller's own");
        assert!(query("message.published").filter().is_err());
        let backwards = EventQuery {
            since: Some("2026-11-26T12:00:00Z".into()),
            until: Some("2026-11-26T11:00:00Z".into()),
            ..EventQuery::default()
        };
        assert!(backwards.filter().is_err(), "until before since");
    }
}
