//! Data out: the change feed (connection and subscription), webhooks, and the incremental sync of sites.
//!
//! Rights are the domain's (`maillage_access::changes`, `maillage_access::webhooks`, `maillage_sites`): every list
//! and stream here keeps only what the caller may read. The live stream's source ([`ChangeSource`]) is the server's
//! fan-out, put in the WebSocket connection's data.

pub mod feed;
pub mod sync;
pub mod webhooks;

pub use feed::{ChangeSource, FeedQuery, FeedSubscription};
pub use sync::SyncQuery;
pub use webhooks::{WebhookPolicy, WebhooksMutation, WebhooksQuery};
