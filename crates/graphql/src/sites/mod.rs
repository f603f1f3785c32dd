//! Lieux de médiation numérique: the `Site` object, its filters and orders, queries and mutations.

pub mod inputs;
pub mod loaders;
pub mod mutations;
pub mod objects;
pub mod queries;

pub use inputs::{SiteFilterInput, SiteOrderByInput, sites_args};
pub use loaders::{DepartmentSitesLoader, take_page};
pub use mutations::SitesMutation;
pub use objects::site_connection;
pub use queries::{SitesQuery, sites_by_ids};
