//! The closed vocabularies of the national standard, v0.1.1 and v1.0.2, and how each v0.1 value maps to v1.0.2.
//!
//! Labels are copied character for character from the schemas' `pattern` constraints: an export is validated
//! against those patterns, so a label that differs by one apostrophe would make a whole file invalid.

use crate::model::{StandardVersion, TaggedValue, ValueKind};
use maillage_core::text::fold;

/// One v0.1.1 label: its own text, the v1.0.2 field it belongs to, and its v1.0.2 label when one exists.
pub type V0_1Entry = (&'static str, ValueKind, Option<&'static str>);

/// v0.1.1 `services`; they were merged into the 9 services of v1.0.2.
pub const V0_1_SERVICES: [V0_1Entry; 15] = [
    (
        "Devenir autonome dans les démarches administratives",
        ValueKind::Service,
        Some("Aide aux démarches administratives"),
    ),
    (
        "Réaliser des démarches administratives avec un accompagnement",
        ValueKind::Service,
        Some("Aide aux démarches administratives"),
    ),
    (
        "Prendre en main un smartphone ou une tablette",
        ValueKind::Service,
        Some("Maîtrise des outils numériques du quotidien"),
    ),
    (
        "Prendre en main un ordinateur",
        ValueKind::Service,
        Some("Maîtrise des outils numériques du quotidien"),
    ),
    (
        "Utiliser le numérique au quotidien",
        ValueKind::Service,
        Some("Maîtrise des outils numériques du quotidien"),
    ),
    (
        "Approfondir ma culture numérique",
        ValueKind::Service,
        Some("Compréhension du monde numérique"),
    ),
    (
        "Favoriser mon insertion professionnelle",
        ValueKind::Service,
        Some("Insertion professionnelle via le numérique"),
    ),
    (
        "Accéder à une connexion internet",
        ValueKind::Service,
        Some("Accès internet et matériel informatique"),
    ),
    (
        "Accéder à du matériel",
        ValueKind::Service,
        Some("Accès internet et matériel informatique"),
    ),
    (
        "S'équiper en matériel informatique",
        ValueKind::Service,
        Some("Acquisition de matériel informatique à prix solidaire"),
    ),
    (
        "Créer et développer mon entreprise",
        ValueKind::Service,
        Some("Insertion professionnelle via le numérique"),
    ),
    (
        "Créer avec le numérique",
        ValueKind::Service,
        Some("Loisirs et créations numériques"),
    ),
    (
        "Accompagner les démarches de santé",
        ValueKind::Service,
        Some("Aide aux démarches administratives"),
    ),
    (
        "Promouvoir la citoyenneté numérique",
        ValueKind::Service,
        Some("Compréhension du monde numérique"),
    ),
    (
        "Soutenir la parentalité et l'éducation avec le numérique",
        ValueKind::Service,
        Some("Parentalité et éducation avec le numérique"),
    ),
];

/// v0.1.1 `publics_accueillis`, which v1.0.2 split into audiences (`Public`) and specific support.
pub const V0_1_PUBLICS: [V0_1Entry; 11] = [
    ("Seniors (+ 65 ans)", ValueKind::Public, Some("Seniors")),
    (
        "Familles/enfants",
        ValueKind::Public,
        Some("Familles et/ou enfants"),
    ),
    // v1.0.2 lists only audiences a place specifically addresses; "adults" is everyone, so it has no equivalent.
    ("Adultes", ValueKind::Public, None),
    ("Jeunes (16-26 ans)", ValueKind::Public, Some("Jeunes")),
    (
        "Public langues étrangères",
        ValueKind::SpecificSupport,
        Some("Langues étrangères (autres)"),
    ),
    (
        "Déficience visuelle",
        ValueKind::SpecificSupport,
        Some("Déficience visuelle"),
    ),
    ("Surdité", ValueKind::SpecificSupport, Some("Surdité")),
    (
        "Handicaps psychiques : troubles psychiatriques donnant lieu à des atteintes comportementales",
        ValueKind::SpecificSupport,
        None,
    ),
    (
        "Handicaps mentaux : déficiences limitant les activités d'une personne",
        ValueKind::SpecificSupport,
        Some("Handicaps mentaux"),
    ),
    ("Uniquement femmes", ValueKind::Public, Some("Femmes")),
    (
        "Personnes en situation d'illettrisme",
        ValueKind::SpecificSupport,
        Some("Illettrisme"),
    ),
];

/// v0.1.1 `conditions_acces`; v1.0.2 kept only the fee part.
pub const V0_1_ACCESS_CONDITIONS: [V0_1Entry; 5] = [
    (
        "Gratuit : Je peux accéder gratuitement au lieu et à ses services",
        ValueKind::Fee,
        Some("Gratuit"),
    ),
    (
        "Gratuit sous condition : La gratuité est conditionnée à des critères (situation familiale, convention avec un organisme social...)",
        ValueKind::Fee,
        Some("Gratuit sous condition"),
    ),
    (
        "Payant : L'accès au lieu et/ou à ses services est payant",
        ValueKind::Fee,
        Some("Payant"),
    ),
    (
        "Accepte le Pass numérique : Il est possible d'utiliser un Pass numérique pour accéder au lieu",
        ValueKind::Fee,
        None,
    ),
    (
        "Adhésion : L'accès au lieu et/ou à ses services nécessite d'y adhérer",
        ValueKind::Fee,
        None,
    ),
];

/// v0.1.1 `labels_nationaux`, which v1.0.2 split into national programmes and training labels.
pub const V0_1_NATIONAL_LABELS: [V0_1Entry; 11] = [
    (
        "France Services",
        ValueKind::NationalProgramme,
        Some("France Services"),
    ),
    (
        "CNFS",
        ValueKind::NationalProgramme,
        Some("Conseillers numériques"),
    ),
    ("APTIC", ValueKind::NationalProgramme, None),
    (
        "Aidants Connect",
        ValueKind::NationalProgramme,
        Some("Aidants Connect"),
    ),
    (
        "Fabriques de Territoire",
        ValueKind::TrainingLabel,
        Some("Fabriques de Territoire"),
    ),
    (
        "Grandes écoles du numérique",
        ValueKind::NationalProgramme,
        Some("Grande école du numérique"),
    ),
    (
        "Point relais CAF",
        ValueKind::NationalProgramme,
        Some("Point d'accès numérique CAF"),
    ),
    (
        "Point numérique CAF",
        ValueKind::NationalProgramme,
        Some("Point d'accès numérique CAF"),
    ),
    ("Relais pôle emploi", ValueKind::NationalProgramme, None),
    ("French Tech", ValueKind::NationalProgramme, None),
    ("Campus connecté", ValueKind::NationalProgramme, None),
];

/// v0.1.1 `modalites_accompagnement`.
pub const V0_1_SUPPORT_MODES: [V0_1Entry; 4] = [
    (
        "Seul : j'ai accès à du matériel et une connexion",
        ValueKind::SupportMode,
        Some("En autonomie"),
    ),
    (
        "Avec de l'aide : je suis accompagné seul dans l'usage du numérique",
        ValueKind::SupportMode,
        Some("Accompagnement individuel"),
    ),
    (
        "Dans un atelier : j'apprends collectivement à utiliser le numérique",
        ValueKind::SupportMode,
        Some("Dans un atelier collectif"),
    ),
    // Doing the procedure for someone (mandate) is not a support mode in v1.0.2 (it is Aidants Connect's domain).
    (
        "A ma place : une personne habilitée fait les démarches à ma place",
        ValueKind::SupportMode,
        None,
    ),
];

/// v1.0.2 `services`.
pub const V1_SERVICES: [&str; 9] = [
    "Aide aux démarches administratives",
    "Maîtrise des outils numériques du quotidien",
    "Insertion professionnelle via le numérique",
    "Utilisation sécurisée du numérique",
    "Parentalité et éducation avec le numérique",
    "Loisirs et créations numériques",
    "Compréhension du monde numérique",
    "Accès internet et matériel informatique",
    "Acquisition de matériel informatique à prix solidaire",
];

/// v1.0.2 `publics_specifiquement_adresses`.
pub const V1_PUBLICS: [&str; 5] = [
    "Jeunes",
    "Étudiants",
    "Familles et/ou enfants",
    "Seniors",
    "Femmes",
];

/// v1.0.2 `prise_en_charge_specifique`.
pub const V1_SPECIFIC_SUPPORTS: [&str; 7] = [
    "Surdité",
    "Handicaps moteurs",
    "Handicaps mentaux",
    "Illettrisme",
    "Langues étrangères (anglais)",
    "Langues étrangères (autres)",
    "Déficience visuelle",
];

/// v1.0.2 `frais_a_charge`.
pub const V1_FEES: [&str; 3] = ["Gratuit", "Gratuit sous condition", "Payant"];

/// v1.0.2 `dispositif_programmes_nationaux`.
pub const V1_NATIONAL_PROGRAMMES: [&str; 11] = [
    "Aidants Connect",
    "Bibliothèques numérique de référence",
    "Certification PIX",
    "Conseillers numériques",
    "Emmaüs Connect",
    "France Services",
    "Grande école du numérique",
    "La Croix Rouge",
    "Point d'accès numérique CAF",
    "Promeneurs du net",
    "Relais numérique (Emmaüs Connect)",
];

/// v1.0.2 `formations_labels` (the missing space in "Étapes numériques(La Poste)" is the schema's own).
pub const V1_TRAINING_LABELS: [&str; 10] = [
    "Formé à « Mon Espace Santé »",
    "Formé à « DUPLEX » (illettrisme)",
    "Arnia/MedNum BFC (Bourgogne-Franche-Comté)",
    "Collectif ressources et acteurs réemploi (Normandie)",
    "Étapes numériques(La Poste)",
    "Fabriques de Territoire",
    "Les Éclaireurs du numérique (Drôme)",
    "Mes Papiers (Métropole de Lyon)",
    "ORDI 3.0",
    "SUD LABS (PACA)",
];

/// v1.0.2 `modalites_acces`.
pub const V1_ACCESS_MODES: [&str; 6] = [
    "Se présenter",
    "Téléphoner",
    "Contacter par mail",
    "Prendre un RDV en ligne",
    "Ce lieu n'accueille pas de public",
    "Envoyer un mail avec une fiche de prescription",
];

/// v1.0.2 `modalites_accompagnement`.
pub const V1_SUPPORT_MODES: [&str; 4] = [
    "En autonomie",
    "Accompagnement individuel",
    "Dans un atelier collectif",
    "À distance",
];

/// v1.0.2 `itinerance`.
pub const V1_ITINERANCE: [&str; 2] = ["Itinérant", "Fixe"];

/// The v1.0.2 labels allowed for a kind; `None` for `Typology`, whose codes the schema leaves free.
pub fn v1_labels(kind: ValueKind) -> Option<&'static [&'static str]> {
    Some(match kind {
        ValueKind::Service => &V1_SERVICES,
        ValueKind::Public => &V1_PUBLICS,
        ValueKind::SpecificSupport => &V1_SPECIFIC_SUPPORTS,
        ValueKind::Fee => &V1_FEES,
        ValueKind::NationalProgramme => &V1_NATIONAL_PROGRAMMES,
        ValueKind::TrainingLabel => &V1_TRAINING_LABELS,
        ValueKind::AccessMode => &V1_ACCESS_MODES,
        ValueKind::SupportMode => &V1_SUPPORT_MODES,
        ValueKind::Itinerance => &V1_ITINERANCE,
        ValueKind::Typology => return None,
    })
}

/// The multi-valued columns of a version, each with the kind its values default to.
///
/// In v0.1 a column's values may belong to another kind (`publics_accueillis` holds specific support too); the
/// default kind is the one given to values the vocabulary does not know.
pub fn multi_valued_columns(version: StandardVersion) -> &'static [(&'static str, ValueKind)] {
    match version {
        StandardVersion::V0_1 => &[
            ("services", ValueKind::Service),
            ("publics_accueillis", ValueKind::Public),
            ("conditions_acces", ValueKind::Fee),
            ("labels_nationaux", ValueKind::NationalProgramme),
            ("modalites_accompagnement", ValueKind::SupportMode),
            ("typologie", ValueKind::Typology),
        ],
        StandardVersion::V1_0 => &[
            ("typologie", ValueKind::Typology),
            ("itinerance", ValueKind::Itinerance),
            ("services", ValueKind::Service),
            ("publics_specifiquement_adresses", ValueKind::Public),
            ("prise_en_charge_specifique", ValueKind::SpecificSupport),
            ("frais_a_charge", ValueKind::Fee),
            (
                "dispositif_programmes_nationaux",
                ValueKind::NationalProgramme,
            ),
            ("formations_labels", ValueKind::TrainingLabel),
            ("modalites_acces", ValueKind::AccessMode),
            ("modalites_accompagnement", ValueKind::SupportMode),
        ],
    }
}

/// The v0.1 vocabulary of one v0.1 column (empty for free columns such as `typologie`).
pub fn v0_1_entries(column: &str) -> &'static [V0_1Entry] {
    match column {
        "services" => &V0_1_SERVICES,
        "publics_accueillis" => &V0_1_PUBLICS,
        "conditions_acces" => &V0_1_ACCESS_CONDITIONS,
        "labels_nationaux" => &V0_1_NATIONAL_LABELS,
        "modalites_accompagnement" => &V0_1_SUPPORT_MODES,
        _ => &[],
    }
}

/// A raw value of a multi-valued column, tagged with its kind and v1.0.2 label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// The value to store; `value` is `None` when there is no v1.0.2 label.
    pub tagged: TaggedValue,
    /// Whether the version's vocabulary knows the raw value: a known value without v1.0.2 equivalent (`Adultes`)
    /// is normal, an unknown one is a data-quality issue worth reporting.
    pub known: bool,
}

/// Tags one raw value of `column`; `None` when `column` is not a multi-valued column of `version`.
///
/// Matching ignores case, accents, surrounding and repeated spaces, and typographic apostrophes, because sources
/// retype labels by hand; the raw value is kept exactly as written.
pub fn lookup(version: StandardVersion, column: &str, raw: &str) -> Option<Lookup> {
    let (_, default_kind) = multi_valued_columns(version)
        .iter()
        .find(|(name, _)| *name == column)?;
    let key = match_key(raw);
    let unknown = |kind| Lookup {
        tagged: TaggedValue {
            kind,
            value: None,
            raw: raw.to_owned(),
        },
        known: false,
    };
    if *default_kind == ValueKind::Typology {
        // Typology codes are free in both versions: any non-empty code is a valid value.
        let code = raw.trim();
        return Some(Lookup {
            tagged: TaggedValue {
                kind: ValueKind::Typology,
                value: (!code.is_empty()).then(|| code.to_owned()),
                raw: raw.to_owned(),
            },
            known: true,
        });
    }
    let found = match version {
        StandardVersion::V0_1 => v0_1_entries(column)
            .iter()
            .find(|(label, _, _)| match_key(label) == key)
            .map(|&(_, kind, v1)| (kind, v1)),
        StandardVersion::V1_0 => v1_labels(*default_kind)
            .and_then(|labels| labels.iter().find(|label| match_key(label) == key))
            .map(|&label| (*default_kind, Some(label))),
    };
    Some(match found {
        Some((kind, value)) => Lookup {
            tagged: TaggedValue {
                kind,
                value: value.map(str::to_owned),
                raw: raw.to_owned(),
            },
            known: true,
        },
        None => unknown(*default_kind),
    })
}

/// Whether `value` is a label the v1.0.2 schema accepts for `kind` (any non-empty code for `Typology`).
pub fn is_v1_label(kind: ValueKind, value: &str) -> bool {
    match v1_labels(kind) {
        Some(labels) => labels.contains(&value),
        // Free codes are joined with `|` on export, so a code containing it would become two.
        None => !value.trim().is_empty() && !value.contains('|'),
    }
}

/// The form under which two spellings of a label are considered the same.
fn match_key(s: &str) -> String {
    fold(s).split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use StandardVersion::{V0_1, V1_0};

    #[test]
    fn every_v0_1_value_maps_as_intended() {
        let expected: &[(&str, ValueKind, Option<&str>)] = &[
            (
                "Devenir autonome dans les démarches administratives",
                ValueKind::Service,
                Some("Aide aux démarches administratives"),
            ),
            (
                "Prendre en main un ordinateur",
                ValueKind::Service,
                Some("Maîtrise des outils numériques du quotidien"),
            ),
            ("Adultes", ValueKind::Public, None),
            (
                "Public langues étrangères",
                ValueKind::SpecificSupport,
                Some("Langues étrangères (autres)"),
            ),
            (
                "Fabriques de Territoire",
                ValueKind::TrainingLabel,
                Some("Fabriques de Territoire"),
            ),
            ("APTIC", ValueKind::NationalProgramme, None),
            (
                "Payant : L'accès au lieu et/ou à ses services est payant",
                ValueKind::Fee,
                Some("Payant"),
            ),
        ];
        let mut seen = 0;
        for &(column, _) in multi_valued_columns(V0_1) {
            for &(label, kind, v1) in v0_1_entries(column) {
                seen += 1;
                let found = lookup(V0_1, column, label).unwrap();
                assert!(found.known, "{label}");
                assert_eq!(found.tagged.kind, kind, "{label}");
                assert_eq!(found.tagged.value.as_deref(), v1, "{label}");
                assert_eq!(found.tagged.raw, label);
                if let Some(v1) = v1 {
                    assert!(is_v1_label(kind, v1), "{v1} is not a v1 {kind:?} label");
                }
            }
        }
        assert_eq!(
            seen,
            15 + 11 + 5 + 11 + 4,
            "every v0.1 table is reachable from a column"
        );
        let all: Vec<_> = [
            &V0_1_SERVICES[..],
            &V0_1_PUBLICS,
            &V0_1_ACCESS_CONDITIONS,
            &V0_1_NATIONAL_LABELS,
            &V0_1_SUPPORT_MODES,
        ]
        .concat();
        for row in expected {
            assert!(all.contains(row), "{row:?}");
        }
        let mapped = |label: &str| all.iter().find(|e| e.0 == label).and_then(|e| e.2);
        assert_eq!(mapped("CNFS"), Some("Conseillers numériques"));
        assert_eq!(
            mapped("Point relais CAF"),
            Some("Point d'accès numérique CAF")
        );
        assert_eq!(
            mapped("A ma place : une personne habilitée fait les démarches à ma place"),
            None
        );
    }

    #[test]
    fn every_v1_value_maps_to_itself() {
        for &(column, kind) in multi_valued_columns(V1_0) {
            let Some(labels) = v1_labels(kind) else {
                continue;
            };
            for label in labels {
                let found = lookup(V1_0, column, label).unwrap();
                assert!(found.known);
                assert_eq!(found.tagged.kind, kind);
                assert_eq!(found.tagged.value.as_deref(), Some(*label));
            }
        }
    }

    #[test]
    fn matching_is_tolerant_but_raw_is_exact() {
        let raw = "  soutenir la parentalité et l’éducation  avec le numérique ";
        let found = lookup(V0_1, "services", raw).unwrap();
        assert_eq!(
            found.tagged.value.as_deref(),
            Some("Parentalité et éducation avec le numérique")
        );
        assert_eq!(found.tagged.raw, raw);
        let found = lookup(V1_0, "publics_specifiquement_adresses", "etudiants").unwrap();
        assert_eq!(found.tagged.value.as_deref(), Some("Étudiants"));
    }

    #[test]
    fn unknown_values_are_kept_raw() {
        let found = lookup(V0_1, "labels_nationaux", "Label inconnu").unwrap();
        assert!(!found.known);
        assert_eq!(found.tagged.kind, ValueKind::NationalProgramme);
        assert_eq!(found.tagged.value, None);
        assert_eq!(found.tagged.raw, "Label inconnu");
        // A v1 label in a v0.1 file is not v0.1 vocabulary.
        assert!(
            !lookup(V0_1, "services", "Aide aux démarches administratives")
                .unwrap()
                .known
        );
        assert!(lookup(V0_1, "nom", "x").is_none());
        assert!(lookup(V1_0, "publics_accueillis", "Adultes").is_none());
    }

    #[test]
    fn typology_is_free() {
        let found = lookup(V1_0, "typologie", " TIERS_LIEUX ").unwrap();
        assert!(found.known);
        assert_eq!(found.tagged.value.as_deref(), Some("TIERS_LIEUX"));
        assert!(is_v1_label(ValueKind::Typology, "ASSO"));
        assert!(!is_v1_label(ValueKind::Typology, "A|B"));
    }
}
