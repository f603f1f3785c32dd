//! Aidants Connect: organisations, aidants (personal fields masked per caller), public aggregates, mutations.
//!
//! Nested lists are batched one level at a time: `department { aidantsOrganisations }` is one statement for all
//! departments of a level, `aidantsOrganisation { aidants }` three for all organisations of a level, so
//! `hubs → departments → aidantsOrganisations → aidants` costs a fixed number of statements whatever the data.

pub mod inputs;
pub mod loaders;
pub mod mutations;
pub mod objects;
pub mod queries;

pub use inputs::*;
pub use loaders::*;
pub use mutations::*;
pub use objects::*;
pub use queries::*;
