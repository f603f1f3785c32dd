//! Where a query looks: a department, a hub's departments, a region's departments, or everywhere.
//!
//! Hubs and regions are resolved to department codes through `maillage-territories` (one statement), and the
//! aidants tables are then filtered on their organisations' department: the only territorial key this crate stores.

use crate::AidantsError;
use maillage_core::{DepartmentCode, RegionCode};
use sea_orm::ConnectionTrait;

/// A territory to filter or aggregate over.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Territory {
    /// All of France.
    National,
    /// One department.
    Department(DepartmentCode),
    /// The departments a hub covers (slug).
    Hub(String),
    /// The departments of a region.
    Region(RegionCode),
}

/// The department codes of `territory` (`None`: no restriction). A hub or region covering nothing gives an empty
/// list, which matches nothing.
pub async fn departments_of<C: ConnectionTrait>(
    db: &C,
    territory: &Territory,
) -> Result<Option<Vec<String>>, AidantsError> {
    Ok(match territory {
        Territory::National => None,
        Territory::Department(code) => Some(vec![code.as_str().to_owned()]),
        Territory::Hub(slug) => {
            let hub = maillage_territories::hub_by_slug(db, slug)
                .await?
                .ok_or_else(|| AidantsError::UnknownHub(slug.clone()))?;
            Some(
                maillage_territories::departments_of_hubs(db, &[hub.id])
                    .await?
                    .into_iter()
                    .map(|(_, d)| d.code.as_str().to_owned())
                    .collect(),
            )
        }
        Territory::Region(code) => Some(
            maillage_territories::departments_of_regions(db, std::slice::from_ref(code))
                .await?
                .into_iter()
                .map(|d| d.code.as_str().to_owned())
                .collect(),
        ),
    })
}

/// Intersects an optional list of departments with the departments of a hub and of a region, each optional.
pub(crate) async fn scope_departments<C: ConnectionTrait>(
    db: &C,
    departments: &[DepartmentCode],
    hub: Option<&str>,
    region: Option<&RegionCode>,
) -> Result<Option<Vec<String>>, AidantsError> {
    let mut scope: Option<Vec<String>> = (!departments.is_empty())
        .then(|| departments.iter().map(|d| d.as_str().to_owned()).collect());
    let mut restrict = |list: Vec<String>| {
        scope = Some(match scope.take() {
            Some(current) => current.into_iter().filter(|d| list.contains(d)).collect(),
            None => list,
        });
    };
    if let Some(slug) = hub
        && let Some(list) = departments_of(db, &Territory::Hub(slug.to_owned())).await?
    {
        restrict(list);
    }
    if let Some(code) = region
        && let Some(list) = departments_of(db, &Territory::Region(code.clone())).await?
    {
        restrict(list);
    }
    Ok(scope)
}
