//! The counsellors crate's own tables. Private: other crates go through the services.

pub(crate) mod assignment;
pub(crate) mod counsellor;
pub(crate) mod post;
pub(crate) mod status_period;
pub(crate) mod structure;
