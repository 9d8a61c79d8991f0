//! The engine's integration tests, one binary: storage conformance and delivery over
//! real sockets, each scenario run on SQLite and on PostgreSQL.

mod announcements;
mod audit;
mod auto_disable;
mod breaker;
mod cluster;
mod deletion;
mod delivery;
mod grants;
mod harness;
mod health;
mod idempotency;
mod incidents;
mod lifecycle;
mod live;
mod operational;
mod portal;
mod queue_heads;
mod recover_filters;
mod retention;
mod rollups;
mod scheduler;
mod sealing;
mod shared_claims;
mod slo;
mod statistics;
mod store;
mod users;
