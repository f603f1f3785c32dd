//! Regions, departments and hubs: their objects, queries and the hub mutations.

mod hub_departments;
pub mod mutations;
pub mod objects;
pub mod queries;

pub use mutations::TerritoriesMutation;
pub use queries::TerritoriesQuery;
