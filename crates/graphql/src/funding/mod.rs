//! Funding: envelopes, funding rules, grants, disbursements and the Pass numérique.

pub mod beneficiaries;
pub mod grants;
pub mod handles;
pub mod inputs;
pub mod money;
pub mod mutations;
pub mod objects;
pub mod queries;

pub use grants::*;
pub use handles::*;
pub use inputs::*;
pub use money::*;
pub use mutations::*;
pub use objects::*;
pub use queries::*;
