//! The server's integration tests, one binary: the REST API over a real socket, and
//! the process-level fault tests (SIGKILL mid-burst, SIGTERM), on both backends, and
//! the chaos tests of three nodes on PostgreSQL (a node killed, PostgreSQL restarted).

mod api;
mod canary;
mod chaos;
mod cli;
mod client;
mod conditional;
mod dashboard;
mod deletion;
mod deprecation;
mod enable_and_recover;
mod events;
mod forms;
mod hardening;
mod harness;
mod idempotency;
mod incidents;
mod labels;
mod metrics;
mod nul;
mod openapi;
mod permissions;
mod portal;
mod process;
mod recover;
mod suspension;
mod traces;
mod views;
