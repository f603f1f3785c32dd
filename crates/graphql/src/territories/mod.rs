//! Regions, departments and hubs: their objects, queries and the hub mutations.

pub mod mutations;
pub mod objects;
pub mod queries;

pub use mutations::TerritoriesMutation;
pub use queries::TerritoriesQuery;
