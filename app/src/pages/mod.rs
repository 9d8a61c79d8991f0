//! One module per page.

pub mod sign_in;
pub mod status;
