//! Every controlled list of the sites' national standard, for clients that build filter menus without knowing
//! the labels by heart: the v1.0.2 labels of each multi-valued field (the ones filters and statistics use), with
//! the v0.1.1 labels each one replaces, and the typology codes in use (the standard leaves them free).

use crate::SitesError;
use crate::entity::site_value;
use crate::model::{StandardVersion, ValueKind};
use crate::standard::vocabulary::{multi_valued_columns, v0_1_entries, v1_labels};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

/// The national standard's name, as its schema's title says.
pub const STANDARD: &str = "Lieux de médiation numérique";

/// One value of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VocabularyValue {
    /// The label, exactly as the standard writes it.
    pub label: String,
    /// The v0.1.1 labels an import maps to this one.
    pub replaces: Vec<String>,
}

/// One controlled list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocabulary {
    /// The kind of values.
    pub kind: ValueKind,
    /// The standard's column holding them (v1.0.2 name).
    pub column: &'static str,
    /// The standard's version the labels come from.
    pub version: StandardVersion,
    /// Whether the standard closes the list (`false`: free codes; `values` are then the ones in use).
    pub closed: bool,
    /// The values, in the standard's order (codes in use: alphabetical).
    pub values: Vec<VocabularyValue>,
}

/// Every list, in the standard's column order. One statement (the typology codes in use).
#[tracing::instrument(skip_all)]
pub async fn vocabularies<C: ConnectionTrait>(db: &C) -> Result<Vec<Vocabulary>, SitesError> {
    let v0_1 = multi_valued_columns(StandardVersion::V0_1);
    let mut out = Vec::new();
    for &(column, kind) in multi_valued_columns(StandardVersion::V1_0) {
        let values = match v1_labels(kind) {
            Some(labels) => labels
                .iter()
                .map(|label| VocabularyValue {
                    label: (*label).to_owned(),
                    replaces: v0_1
                        .iter()
                        .flat_map(|(c, _)| v0_1_entries(c).iter())
                        .filter(|(_, k, v1)| *k == kind && *v1 == Some(*label))
                        .map(|(old, _, _)| (*old).to_owned())
                        .collect(),
                })
                .collect(),
            None => site_value::Entity::find()
                .select_only()
                .column(site_value::Column::Value)
                .distinct()
                .filter(site_value::Column::Kind.eq(kind.as_str()))
                .filter(site_value::Column::Value.is_not_null())
                .order_by_asc(site_value::Column::Value)
                .into_tuple::<String>()
                .all(db)
                .await?
                .into_iter()
                .map(|label| VocabularyValue {
                    label,
                    replaces: Vec::new(),
                })
                .collect(),
        };
        out.push(Vocabulary {
            kind,
            column,
            version: StandardVersion::V1_0,
            closed: v1_labels(kind).is_some(),
            values,
        });
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn each_v0_1_label_with_a_v1_equivalent_is_listed_under_it() {
        let v0_1_services = v0_1_entries("services");
        let replaced: usize = crate::standard::vocabulary::V1_SERVICES
            .iter()
            .map(|label| {
                v0_1_services
                    .iter()
                    .filter(|(_, k, v1)| *k == ValueKind::Service && *v1 == Some(*label))
                    .count()
            })
            .sum();
        let mapped = v0_1_services
            .iter()
            .filter(|(_, k, v1)| *k == ValueKind::Service && v1.is_some())
            .count();
        assert_eq!(replaced, mapped);
        assert!(mapped > 0);
    }
}
