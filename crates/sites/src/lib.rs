#![doc = include_str!("../README.md")]

pub mod brief;
pub mod bulk;
pub mod datainclusion;
pub mod dedup;
pub mod draft;
mod entity;
mod error;
pub mod export;
pub mod feeds;
pub mod geojson;
pub mod hours;
pub mod import;
pub mod jobs;
pub mod mapping;
pub mod model;
pub mod provenance;
pub mod query;
pub mod read;
pub mod search;
pub mod standard;
pub mod statistics;
pub mod vocabularies;
mod write;

pub use bulk::discard_unfinished_staging;
pub use draft::{SiteDraft, SitePatchDraft};
pub use error::SitesError;
pub use model::{NewSite, StandardVersion, TaggedValue, ValueKind};
pub use provenance::{FieldProvenance, Origin, provenance_of};
pub use query::{
    BoundingBox, MAX_NEAR_RADIUS_KM, Near, NearCentre, Site, SiteFilter, SiteOrder, SiteOrderField,
    SiteParts, SiteRecords, SiteSync, get_site, haversine_km, list_site_parts_by_departments,
    list_site_parts_synced, list_sites, list_sites_by_departments, list_sites_synced,
    site_by_source, sites_by_ids,
};
pub use write::{SitePatch, StoreOutcome, archive_site, can_write_site, create_site, update_site};
