//! `vocabularies`: every controlled list a filter or a statistic takes, with its standard and version, so that a
//! client can build its menus without knowing the labels by heart.

use crate::kit::error::IntoGql;
use crate::kit::state;
use async_graphql::{Context, Object, SimpleObject};
use maillage_sites::ValueKind;
use maillage_sites::vocabularies::STANDARD;

/// The root field.
#[derive(Default)]
pub struct VocabulariesQuery;

/// One value of a list.
#[derive(SimpleObject)]
pub struct VocabularyValue {
    /// The label (or code), exactly as filters and statistics take it.
    pub label: String,
    /// The labels of the standard's previous version (v0.1.1) an import reads as this one.
    pub replaces: Vec<String>,
}

/// One controlled list.
#[derive(SimpleObject)]
pub struct Vocabulary {
    /// Its name in Maillage: the filter or statistics dimension that takes its values (`services`, `publics`,
    /// `specificSupports`, `fees`, `nationalProgrammes`, `trainingLabels`, `accessModes`, `supportModes`,
    /// `typologies`, `itinerance`, `demarches`, `mandateDurations`).
    pub name: String,
    /// The standard that defines it, e.g. "Lieux de médiation numérique" (the national standard) or "Aidants
    /// Connect".
    pub standard: String,
    /// The standard's version the labels come from (e.g. `1.0.2`); `null` for lists without a published version.
    pub version: Option<String>,
    /// The standard's column (or field) holding these values, e.g. `services`.
    pub column: Option<String>,
    /// Whether the standard closes the list; `false`: free codes, and `values` are those in use here.
    pub closed: bool,
    /// The values, in the standard's order.
    pub values: Vec<VocabularyValue>,
}

fn name(kind: ValueKind) -> &'static str {
    match kind {
        ValueKind::Service => "services",
        ValueKind::Public => "publics",
        ValueKind::SpecificSupport => "specificSupports",
        ValueKind::Fee => "fees",
        ValueKind::NationalProgramme => "nationalProgrammes",
        ValueKind::TrainingLabel => "trainingLabels",
        ValueKind::AccessMode => "accessModes",
        ValueKind::SupportMode => "supportModes",
        ValueKind::Typology => "typologies",
        ValueKind::Itinerance => "itinerance",
    }
}

/// A list of Maillage's own codes (as GraphQL enum values, from the variants' names).
fn codes(name: &str, column: &str, keys: impl Iterator<Item = String>) -> Vocabulary {
    Vocabulary {
        name: name.to_owned(),
        standard: "Aidants Connect".to_owned(),
        version: None,
        column: Some(column.to_owned()),
        closed: true,
        values: keys
            .map(|k| VocabularyValue {
                label: super::dimensions::enum_value(&k),
                replaces: Vec::new(),
            })
            .collect(),
    }
}

#[Object]
impl VocabulariesQuery {
    /// Every controlled list: the national standard's (services, publics, specific supports, fees, national
    /// programmes, training labels, access and support modes, typologies, itinerance), with its version, and
    /// Aidants Connect's démarches and mandate durations. Public.
    async fn vocabularies(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Vocabulary>> {
        let lists = maillage_sites::vocabularies::vocabularies(&state(ctx)?.db)
            .await
            .gql()?;
        let mut out: Vec<Vocabulary> = lists
            .into_iter()
            .map(|v| Vocabulary {
                name: name(v.kind).to_owned(),
                standard: STANDARD.to_owned(),
                version: Some(v.version.as_str().to_owned()),
                column: Some(v.column.to_owned()),
                closed: v.closed,
                values: v
                    .values
                    .into_iter()
                    .map(|x| VocabularyValue {
                        label: x.label,
                        replaces: x.replaces,
                    })
                    .collect(),
            })
            .collect();
        out.push(codes(
            "demarches",
            "demarche",
            maillage_aidants::Demarche::ALL
                .iter()
                .map(|d| format!("{d:?}")),
        ));
        out.push(codes(
            "mandateDurations",
            "duration",
            maillage_aidants::MandateDuration::ALL
                .iter()
                .map(|d| format!("{d:?}")),
        ));
        Ok(out)
    }
}
