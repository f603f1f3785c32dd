//! The AMI crate's own tables. Private: other crates go through the services.

pub(crate) mod application;
pub(crate) mod application_department;
pub(crate) mod attachment;
pub(crate) mod campaign;
pub(crate) mod campaign_region;
pub(crate) mod conflict;
pub(crate) mod criterion;
pub(crate) mod score;
pub(crate) mod score_sheet;
