//! Endpoint health: what the endpoints page and `GET .../endpoints/health` show,
//! counted by the store in grouped queries.

use sluice_core::model::*;
use sluice_engine::{Caller, Error};
use sluice_testkit::{on_both_backends, Receiver, Reply, TestDb};

use crate::harness::{fast_config, Harness};

on_both_backends!(health_counts_recent_outcomes_per_endpoint_and_stays_in_its_tenant);

async fn health_counts_recent_outcomes_per_endpoint_and_stays_in_its_tenant(db: TestDb) {
    let h = Harness::new(db).await;
    let (ok_rx, failing_rx) = (Receiver::start().await, Receiver::start().await);
    failing_rx.set_default(Reply::Status(503));
    let good = h.endpoint(&ok_rx.url(), None).await;
    let bad = h.endpoint(&failing_rx.url(), Some(vec![])).await;
    let idle = h.endpoint(&format!("{}/idle", ok_rx.url()), None).await;
    h.sluice.disable_endpoint(&h.scope, &idle.id, DisableEndpoint::default()).await.expect("disable");
    for i in 0..3 {
        h.publish("t", &format!("{{\"i\":{i}}}")).await;
    }
    let mut engine = h.dispatcher(fast_config(&h.db.url));
    while engine.step().await.expect("step") > 0 {}

    let health = h.sluice.endpoint_health(&h.scope).await.expect("health");
    let of = |id: &sluice_core::ids::EndpointId| health.iter().find(|e| &e.endpoint_id == id);
    let g = of(&good.id).expect("good endpoint listed");
    assert_eq!((g.succeeded, g.failed, g.last_error_class), (3, 0, None));
    let b = of(&bad.id).expect("bad endpoint listed");
    assert_eq!((b.succeeded, b.failed), (0, 3));
    assert_eq!((b.last_error_class, b.last_response_status), (Some(ErrorClass::Http5xx), Some(503)));
    assert!(of(&idle.id).is_none(), "no deliveries, nothing to say");

    let other = h.sluice.create_tenant(&h.platform, CreateTenant { name: "B".into(), ..Default::default() }).await;
    let other = other.expect("tenant").id;
    let partner = Caller::Tenant { tenant: other, actor: "key_b".into(), read_only: false };
    let refused = partner.tenant(&h.tenant);
    assert!(matches!(refused, Err(Error::NotFound { .. })), "{refused:?}");
}
