//! The aidants crate's own tables. Private: other crates go through the services.

pub(crate) mod aidant;
pub(crate) mod aidant_organisation;
pub(crate) mod mandate_month;
pub(crate) mod organisation;
