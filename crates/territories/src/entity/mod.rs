//! The sea-orm entities of the territories tables, private to this crate.
//!
//! They mirror `migrations/src/m20261122_000001_territories.rs` column for column. Other crates never see them: they
//! get the domain types of [`crate::model`], so the tables can change without breaking callers.

pub(crate) mod department;
pub(crate) mod hub;
pub(crate) mod hub_coordinator;
pub(crate) mod hub_department;
pub(crate) mod hub_indicator;
pub(crate) mod hub_indicator_revision;
pub(crate) mod region;
