//! The sites crate's own tables. Private: other crates go through the services.

pub(crate) mod feed;
pub(crate) mod import_job;
pub(crate) mod import_job_line;
pub(crate) mod site;
pub(crate) mod site_field_provenance;
pub(crate) mod site_import_stage;
pub(crate) mod site_value;
