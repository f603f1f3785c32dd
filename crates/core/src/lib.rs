#![doc = include_str!("../README.md")]

pub mod actor;
pub mod codes;
pub mod csv;
pub mod db;
pub mod draft;
pub mod error;
pub mod ids;
pub mod pagination;
pub mod reads;
pub mod sync;
pub mod text;
pub mod values;

pub use actor::{Actor, Role};
pub use codes::{Classification, Code};
pub use draft::{FieldProblem, FieldProblems};
pub use error::{ErrorCode, FieldPath};
pub use ids::{DepartmentCode, HubId, RegionCode, SiteId};
pub use pagination::{Cursor, Page, PageRequest};
pub use values::{Email, InseeCode, Pivot, PostalCode, Siret};
