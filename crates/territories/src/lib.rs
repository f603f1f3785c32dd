#![doc = include_str!("../README.md")]

pub(crate) mod entity;
mod error;
mod model;
mod read;
mod seed;
pub mod statistics;
mod write;

pub use error::TerritoriesError;
pub use model::{Department, Hub, Region};
pub use read::{
    departments_by_codes, departments_of_hubs, departments_of_regions, hub_by_slug, hub_scope,
    hubs_by_ids, hubs_of_departments, list_departments, list_hubs, list_regions, regions_by_codes,
    require_departments,
};
pub use seed::{SeedReport, seed_reference_data};
pub use write::{HubPatch, NewHub, create_hub_in, set_hub_departments, update_hub};
