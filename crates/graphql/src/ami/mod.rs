//! The AMI "Hubs pour un numérique inclusif": campaigns, dossiers, reviews and decisions.
//!
//! Thin resolvers over `maillage-ami`, which decides who sees and does what (an applicant sees only its own
//! dossiers, and no score before the decision; reviewers see submitted dossiers; admins everything) and enforces
//! the state machine, the deadline, the ceiling and the envelope. Mutations take one `input` and answer
//! `{ application, userErrors }`; attachments are uploaded and downloaded over plain HTTP (`/ami/…`, see the
//! server crate), and listed here.

pub mod applications;
pub mod campaigns;
pub mod inputs;
pub mod mutations;
pub mod payloads;
pub mod queries;

pub use applications::*;
pub use campaigns::*;
pub use inputs::*;
pub use mutations::*;
pub use payloads::*;
pub use queries::*;
