//! The circuit breaker over time, with the real dispatcher loop: what happens between
//! its opening and the probe that closes it, and the events that record both.

use std::time::Duration;

use sluice_core::model::LifecycleKind;
use sluice_engine::EngineConfig;
use sluice_testkit::{on_both_backends, Receiver, Reply, TestDb};
use tokio::sync::watch;

use crate::harness::{fast_config, Harness};

on_both_backends!(a_half_open_circuit_with_nothing_due_probes_when_the_retry_falls_due);

/// The circuit opens on the first failure and is half-open long before the retry is
/// due. The probe's claim then found nothing and unlisted the endpoint, and the scan
/// left open circuits out, so nothing listed it again: the retry was never sent.
async fn a_half_open_circuit_with_nothing_due_probes_when_the_retry_falls_due(db: TestDb) {
    let h = Harness::new(db).await;
    let rx = Receiver::start().await;
    rx.script([Reply::Status(500)]);
    h.endpoint(&rx.url(), Some(vec![1])).await;
    h.publish("t", "{}").await;
    let config =
        EngineConfig { breaker_threshold: 1, breaker_cooldown: Duration::from_millis(100), ..fast_config(&h.db.url) };
    let engine = h.engine(config);
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(engine.run_until_stopped(stopped));
    let retried = rx.wait_for(2, Duration::from_secs(15)).await;
    stop.send(true).expect("stop");
    task.await.expect("join").expect("engine");
    assert!(retried, "the retry due about a second after the failure was never sent");
    assert_eq!(
        h.event_kinds("endpoint").await,
        [LifecycleKind::EndpointCircuitClosed, LifecycleKind::EndpointCircuitOpened, LifecycleKind::EndpointCreated],
        "the circuit's opening and closing are lifecycle events"
    );
}
