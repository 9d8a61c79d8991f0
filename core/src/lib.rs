//! Sluice's shared vocabulary, compiled for the server and for the browser (wasm32).
//!
//! Nothing here knows about databases, HTTP frameworks or async runtimes: that is what
//! lets the dashboard's wasm bundle and the engine agree on one definition of every
//! resource, error code and rule.

pub mod canary;
pub mod error;
pub mod ids;
pub mod incidents;
pub mod live;
pub mod model;
pub mod requests;
pub mod retry;
pub mod signing;
pub mod slo;
pub mod validate;
pub mod views;

pub use error::{ErrorCode, FieldError};
pub use ids::*;
