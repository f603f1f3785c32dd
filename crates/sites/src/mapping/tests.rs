use super::*;
use crate::read::Location;
use crate::standard::parse::{RowOutcome, parse_row};

fn source(cells: &[(&str, &str)]) -> SourceRow {
    SourceRow {
        location: Location::Line(2),
        columns: cells
            .iter()
            .map(|(c, v)| ((*c).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

/// A hub spreadsheet: a one-line address, one column per weekday, French dates and phones.
const HUB_SHEET: &str = r#"
standard = "1.0.2"
drop = ["Référent"]

[fields.id]
column = "N°"

[fields.pivot]
value = "00000000000000"

[fields.nom]
column = "Structure"
transforms = ["trim", "collapse_spaces"]

[fields.adresse]
compose = "{Numéro} {Voie}"
or = [{ extract = { column = "Adresse complète", pattern = '^(.*?)\s+\d{5}\b' } }]

[fields.code_postal]
extract = { column = "Adresse complète", pattern = '\b(\d{5})\b' }

[fields.commune]
extract = { column = "Adresse complète", pattern = '\d{5}\s+(.+)$' }
transforms = ["title"]

[fields.code_insee]
lookup = "insee"

[fields.telephone]
column = "Tél."
transforms = ["phone_fr"]

[fields.date_maj]
column = "Mise à jour"
transforms = ["date:%d/%m/%Y|%Y-%m-%d"]

[fields.horaires]
hours = { lundi = "Lundi", mardi = "Mardi", samedi = "Samedi" }

[fields.services]
column = "Services"
split = ",;"
translate = { "Démarches" = "Aide aux démarches administratives", "Initiation" = ["Maîtrise des outils numériques du quotidien", "Compréhension du monde numérique"] }
"#;

#[test]
fn a_hub_sheet_becomes_a_valid_standard_row() {
    let mapping = Mapping::parse("hub", HUB_SHEET).unwrap();
    assert_eq!(mapping.version(), StandardVersion::V1_0);
    let row = source(&[
        ("N°", "17"),
        ("Structure", "  Médiathèque   Champollion "),
        ("Adresse complète", "38 Avenue Françoise Giroud 21000 DIJON"),
        ("Tél.", "03 80 48 82 30"),
        ("Mise à jour", "02/06/2024"),
        ("Lundi", "9h - 12h / 14h - 18h"),
        ("Mardi", "Fermé"),
        ("Samedi", "10h-12h"),
        ("Services", "Démarches, Initiation; Jeux vidéo"),
        ("Référent", "Martine Dupont"),
    ]);
    let mapped = mapping.apply(&row);
    assert!(mapped.notes.is_empty(), "{:?}", mapped.notes);
    let get = |k: &str| mapped.row.get(k).map(String::as_str);
    assert_eq!(get("adresse"), Some("38 Avenue Françoise Giroud"));
    assert_eq!(get("code_postal"), Some("21000"));
    assert_eq!(get("commune"), Some("Dijon"));
    assert_eq!(get("code_insee"), Some("21231"));
    assert_eq!(get("nom"), Some("Médiathèque Champollion"));
    assert_eq!(get("telephone"), Some("+33380488230"));
    assert_eq!(get("date_maj"), Some("2024-06-02"));
    assert_eq!(
        get("horaires"),
        Some("Mo 09:00-12:00,14:00-18:00; Sa 10:00-12:00")
    );
    assert_eq!(
        get("services"),
        Some(
            "Aide aux démarches administratives|Maîtrise des outils numériques du quotidien|\
             Compréhension du monde numérique|Jeux vidéo"
        )
    );
    assert!(!format!("{:?}", mapped.row).contains("Dupont"), "dropped");
    assert_eq!(
        mapped.report.untranslated,
        BTreeMap::from([(("Services".to_owned(), "Jeux vidéo".to_owned()), 1)])
    );
    let RowOutcome::Valid { site, .. } = parse_row(mapping.version(), &mapped.row) else {
        panic!("rejected");
    };
    assert_eq!(site.department_code().unwrap().as_str(), "21");
    assert_eq!(
        mapping.unused_columns(&["N°".into(), "Référent".into(), "Remarques".into()]),
        ["Remarques"]
    );
}

#[test]
fn unusable_values_are_noted_and_bad_mappings_refused() {
    let mapping = Mapping::parse("hub", HUB_SHEET).unwrap();
    let mapped = mapping.apply(&source(&[
        ("N°", "1"),
        ("Mise à jour", "juin 2024"),
        ("Lundi", "le matin"),
    ]));
    let fields: Vec<&str> = mapped.notes.iter().map(|n| n.field.as_str()).collect();
    assert_eq!(fields, ["date_maj", "horaires"], "{:?}", mapped.notes);
    assert!(mapped.notes[0].reason.contains("%d/%m/%Y"));
    for (toml, needle) in [
        ("standard = \"2.0\"", "unknown standard"),
        (
            "standard = \"1.0.2\"\n[fields.nom_du_lieu]\ncolumn = \"a\"",
            "not a field",
        ),
        (
            "standard = \"1.0.2\"\n[fields.nom]\ncolumn = \"a\"\nvalue = \"b\"",
            "give one of",
        ),
        (
            "standard = \"1.0.2\"\n[fields.nom]\nextract = { column = \"a\", pattern = \"(\" }",
            "regex",
        ),
        (
            "standard = \"1.0.2\"\n[fields.nom]\ncolumn = \"a\"\ntransforms = [\"shout\"]",
            "unknown transform",
        ),
        (
            "standard = \"1.0.2\"\n[fields.nom]\ncolumn = \"a\"\ncolour = \"b\"",
            "unknown field",
        ),
        (
            "standard = \"1.0.2\"\n[fields.horaires]\nhours = { funday = \"a\" }",
            "unknown day",
        ),
    ] {
        let err = Mapping::parse("bad", toml).unwrap_err().to_string();
        assert!(err.contains(needle), "{toml:?}: {err}");
    }
}

#[test]
fn built_ins_parse_and_standard_files_need_their_columns() {
    for (name, _) in BUILT_IN {
        assert_eq!(Mapping::built_in(name).unwrap().name(), name);
    }
    let v1 = Mapping::standard(StandardVersion::V1_0);
    assert!(v1.is_passthrough());
    let columns: Vec<String> = ["id", "nom", "commune", "code_postal", "date_maj"]
        .map(String::from)
        .to_vec();
    assert_eq!(v1.missing_columns(&columns), ["pivot", "adresse"]);
    let carto = Mapping::built_in("aidants-connect-carto-2020").unwrap();
    assert!(carto.missing_columns(&["nom".into()]).is_empty());
}
