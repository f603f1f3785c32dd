//! Database migrations of Maillage.
//!
//! Append-only and backend-neutral: each file is one change, its identifiers are frozen `DeriveIden` enums (never
//! the domain entities, which evolve), and every `down` really undoes its `up`, so CI can run up → down → up on
//! SQLite and PostgreSQL alike.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_territories;
mod m20261122_000002_sites;
mod m20261122_000003_access;
mod m20261122_000004_counsellors;
mod m20261122_000005_aidants;
mod m20261122_000006_funding;
mod m20261129_000007_ami;
mod m20261204_000008_feeds;
mod m20261204_000009_dedup;
mod m20261204_000010_import_write;
mod m20261204_000011_funding_rules;
mod m20261204_000012_changes;
mod m20261205_000013_import_jobs_live;
mod m20261205_000014_search;
mod m20261205_000014_search_hours;
mod m20261206_000001_counsellor_status_periods;
mod m20261206_000301_hub_profile;
mod m20261206_000400_site_live_index;
mod m20261206_000410_site_merged_into_partial;
mod m20261206_000430_site_value_by_site;
mod m20261206_000500_hub_change_notices;

/// The ordered list of all migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_territories::Migration),
            Box::new(m20261122_000002_sites::Migration),
            Box::new(m20261122_000003_access::Migration),
            Box::new(m20261122_000004_counsellors::Migration),
            Box::new(m20261122_000005_aidants::Migration),
            Box::new(m20261122_000006_funding::Migration),
            Box::new(m20261129_000007_ami::Migration),
            Box::new(m20261204_000008_feeds::Migration),
            Box::new(m20261204_000009_dedup::Migration),
            Box::new(m20261204_000010_import_write::Migration),
            Box::new(m20261204_000011_funding_rules::Migration),
            Box::new(m20261204_000012_changes::Migration),
            Box::new(m20261205_000013_import_jobs_live::Migration),
            Box::new(m20261205_000014_search::Migration),
            Box::new(m20261205_000014_search_hours::Migration),
            Box::new(m20261206_000001_counsellor_status_periods::Migration),
            Box::new(m20261206_000301_hub_profile::Migration),
            Box::new(m20261206_000400_site_live_index::Migration),
            Box::new(m20261206_000410_site_merged_into_partial::Migration),
            Box::new(m20261206_000430_site_value_by_site::Migration),
            Box::new(m20261206_000500_hub_change_notices::Migration),
        ]
    }
}
