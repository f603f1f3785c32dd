//! The funding crate's own tables. Private: other crates go through the services.

pub(crate) mod disbursement;
pub(crate) mod envelope;
pub(crate) mod grant;
pub(crate) mod pass_programme;
pub(crate) mod pass_programme_site;
pub(crate) mod reference_salary;
pub(crate) mod rule;
pub(crate) mod voucher_movement;
