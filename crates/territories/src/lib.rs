#![doc = include_str!("../README.md")]

mod coordinators;
pub(crate) mod entity;
mod error;
mod hub_cache;
mod indicators;
mod model;
mod read;
mod reference;
mod seed;
pub mod statistics;
mod write;

pub use coordinators::{
    HubCoordinator, HubCoordinatorId, NewHubCoordinator, can_edit_hub_profile, can_read_hub_people,
    coordinators_by_ids, coordinators_of_hubs, create_hub_coordinator, remove_hub_coordinator,
};
pub use error::TerritoriesError;
pub use hub_cache::{DepartmentHubs, HUB_CHANGES_CHANNEL, follow_hub_changes};
pub use indicators::{
    HubIndicator, HubIndicatorId, HubIndicatorPatch, IndicatorRevision, NewHubIndicator,
    create_hub_indicator, indicator_revisions, indicators_by_ids, indicators_of_hubs,
    network_indicators, update_hub_indicator,
};
pub use model::{Department, Hub, Region};
pub use read::{
    department_codes_of_hubs, departments_by_codes, departments_of_hubs, departments_of_regions,
    hub_by_slug, hub_by_slug_with_department_codes, hub_scope, hubs_by_ids,
    hubs_of_all_departments, hubs_of_departments, list_departments, list_hubs,
    list_hubs_with_department_codes, list_regions, regions_by_codes, require_departments,
};
pub use reference::{REFERENCE_MAX_AGE, ReferenceSnapshot, ReferenceTerritories};
pub use seed::{SeedReport, seed_reference_data};
pub use write::{HubPatch, NewHub, create_hub_in, set_hub_departments, update_hub};
