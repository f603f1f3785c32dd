//! The access crate's tables. Private: other crates call the services.

pub(crate) mod api_token;
pub(crate) mod audit_log;
pub(crate) mod webhook;
pub(crate) mod webhook_delivery;
