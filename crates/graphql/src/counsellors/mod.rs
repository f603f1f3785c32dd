//! Conseillers numériques: host structures, funded posts, counsellors, their sites, and public statistics.
//!
//! Resolvers are thin: the `maillage-counsellors` services decide permissions and rules. Nested fields go through
//! this module's loaders, one batched statement per level, so `hubs → departments → sites → counsellors →
//! structure` costs the same number of statements whatever the data size.

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
