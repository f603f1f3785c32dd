//! Hub profiles: the people coordinating a hub and the indicators hubs report (`Hub.coordinators`,
//! `Hub.reportedIndicators`, `hubNetworkIndicators`), and the mutations editing them. Rules are the domain's
//! (`maillage_territories::coordinators`, `::indicators`); these resolvers only convert.

pub mod mutations;
pub mod objects;

pub use mutations::HubProfileMutation;
pub use objects::{
    HubCoordinatorNode, HubIndicatorNode, HubProfileQuery, coordinators_of, indicators_of,
};
