//! The public domain types: what other crates know of regions, departments and hubs.
//!
//! Built from rows through the core parsers, so a value of these types holds valid codes.

use crate::entity::{department, hub, region};
use crate::error::TerritoriesError;
use maillage_core::{DepartmentCode, HubId, RegionCode};
use serde::Serialize;

/// A French region, the level at which the AMI sets priorities (e.g. "regions without a hub").
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Region {
    /// INSEE code, e.g. `84`; overseas regions have codes `01`–`06`.
    pub code: RegionCode,
    /// Official name with its accents, e.g. `Auvergne-Rhône-Alpes`.
    pub name: String,
}

/// A French department, the unit of territory everywhere in Maillage (hub coverage, permissions, statistics).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Department {
    /// INSEE code, e.g. `69`, `2A`, `974`.
    pub code: DepartmentCode,
    /// Official name with its accents, e.g. `Ardèche`.
    pub name: String,
    /// The region it belongs to.
    pub region_code: RegionCode,
}

/// A hub territorial: a network coordinating digital-inclusion actors over some departments.
///
/// Its departments are not a field: they are fetched in batch with [`crate::departments_of_hubs`], so listing hubs
/// never drags every coverage along.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Hub {
    /// Database id, stable for the life of the hub.
    pub id: HubId,
    /// Stable human-readable key (`hinaura`), used in URLs and to match seed data across restarts.
    pub slug: String,
    /// Display name, e.g. `Francil'IN`.
    pub name: String,
    /// Public website, when known.
    pub website: Option<String>,
    /// Free text written by admins.
    pub description: Option<String>,
    /// Optimistic-locking version, bumped by each edit so concurrent editors do not overwrite each other.
    pub version: i32,
}

impl TryFrom<region::Model> for Region {
    type Error = TerritoriesError;

    fn try_from(row: region::Model) -> Result<Self, Self::Error> {
        Ok(Self {
            code: RegionCode::parse(&row.code).map_err(TerritoriesError::corrupt("region"))?,
            name: row.name,
        })
    }
}

impl TryFrom<department::Model> for Department {
    type Error = TerritoriesError;

    fn try_from(row: department::Model) -> Result<Self, Self::Error> {
        Ok(Self {
            code: DepartmentCode::parse(&row.code)
                .map_err(TerritoriesError::corrupt("department"))?,
            name: row.name,
            region_code: RegionCode::parse(&row.region_code)
                .map_err(TerritoriesError::corrupt("department"))?,
        })
    }
}

impl From<hub::Model> for Hub {
    fn from(row: hub::Model) -> Self {
        Self {
            id: HubId(row.id),
            slug: row.slug,
            name: row.name,
            website: row.website,
            description: row.description,
            version: row.version,
        }
    }
}
