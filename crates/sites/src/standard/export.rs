//! Writing a site as one v1.0.2 row.
//!
//! Whatever was stored, the row must pass `frictionless validate` against the v1.0.2 schema: consumers reject a
//! whole file for one bad cell, so a value the schema would refuse is left out rather than written.

use super::parse::{is_standard_phone, split_multi};
use super::vocabulary::is_v1_label;
use crate::model::{NewSite, StandardVersion, ValueKind};

/// The columns of the v1.0.2 schema, in its order (also the header of an export).
pub const V1_COLUMNS: [&str; 32] = [
    "id",
    "pivot",
    "nom",
    "commune",
    "code_postal",
    "code_insee",
    "adresse",
    "complement_adresse",
    "latitude",
    "longitude",
    "typologie",
    "telephone",
    "courriels",
    "site_web",
    "horaires",
    "presentation_resume",
    "presentation_detail",
    "source",
    "itinerance",
    "structure_parente",
    "date_maj",
    "services",
    "publics_specifiquement_adresses",
    "prise_en_charge_specifique",
    "frais_a_charge",
    "dispositif_programmes_nationaux",
    "formations_labels",
    "autres_formations_labels",
    "modalites_acces",
    "modalites_accompagnement",
    "fiche_acces_libre",
    "prise_rdv",
];

/// The v1.0.2 maximum length of `presentation_resume`, in characters.
pub const V1_SUMMARY_MAX_CHARS: usize = 280;

/// One v1.0.2 row for `site`, in [`V1_COLUMNS`] order.
///
/// E-mails are written only with `include_emails`, because they may be a person's address and the caller knows
/// who the export is for. A summary over 280 characters is shortened (ending with `…`) and its full text moved
/// into `presentation_detail` (prepended when there is a detail already), so nothing the source wrote is lost.
pub fn to_v1_record(site: &NewSite, include_emails: bool) -> Vec<String> {
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let values = |kind: ValueKind| {
        site.mapped_values(kind)
            .into_iter()
            .filter(|value| is_v1_label(kind, value))
            .collect::<Vec<_>>()
            .join("|")
    };
    let (latitude, longitude) = match (site.latitude, site.longitude) {
        (Some(lat), Some(lon))
            if lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0 =>
        {
            // f64's Display never uses exponent notation, which the schema's `number` type would refuse.
            (lat.to_string(), lon.to_string())
        }
        _ => (String::new(), String::new()),
    };
    let phone = site
        .phone
        .clone()
        .filter(|phone| is_standard_phone(phone))
        .unwrap_or_default();
    let emails = if include_emails {
        site.emails
            .iter()
            .map(|email| email.as_str())
            .collect::<Vec<_>>()
            .join("|")
    } else {
        String::new()
    };
    let website = match (site.standard_version, site.website.as_deref()) {
        // v0.1 listed several sites with `;`; v1.0.2 uses `|`.
        (StandardVersion::V0_1, Some(web)) => split_multi(StandardVersion::V0_1, web).join("|"),
        (_, web) => web.unwrap_or_default().to_owned(),
    };
    let (summary, description) = summary_and_description(site);

    vec![
        site.source_id.clone(),
        site.pivot.to_string(),
        site.name.clone(),
        site.commune.clone(),
        site.postal_code.to_string(),
        site.insee_code
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        site.address.clone(),
        text(&site.address_complement),
        latitude,
        longitude,
        values(ValueKind::Typology),
        phone,
        emails,
        website,
        text(&site.opening_hours),
        summary,
        description,
        text(&site.source_label),
        values(ValueKind::Itinerance),
        text(&site.parent_structure),
        site.updated_on.format("%Y-%m-%d").to_string(),
        values(ValueKind::Service),
        values(ValueKind::Public),
        values(ValueKind::SpecificSupport),
        values(ValueKind::Fee),
        values(ValueKind::NationalProgramme),
        values(ValueKind::TrainingLabel),
        text(&site.other_labels),
        values(ValueKind::AccessMode),
        values(ValueKind::SupportMode),
        text(&site.accessibility_url),
        text(&site.booking_url),
    ]
}

/// `presentation_resume` within the v1.0.2 limit, and `presentation_detail` carrying the full summary if cut.
fn summary_and_description(site: &NewSite) -> (String, String) {
    let summary = site.summary.clone().unwrap_or_default();
    let description = site.description.clone().unwrap_or_default();
    if summary.chars().count() <= V1_SUMMARY_MAX_CHARS {
        return (summary, description);
    }
    let head: String = summary.chars().take(V1_SUMMARY_MAX_CHARS - 1).collect();
    let short = format!("{}…", head.trim_end());
    let description = if description.is_empty() {
        summary
    } else if description.contains(&summary) {
        description
    } else {
        format!("{summary}\n\n{description}")
    };
    (short, description)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::model::TaggedValue;
    use crate::standard::parse::{RawRow, RowOutcome, parse_row};

    /// The header and first row of the standard's own valid example (`standard-mediation-num-v1.0.2.exemple-valide.csv`),
    /// but for its coordinates: it places Reims (51) at 43.52609, 5.41423 (Aix-en-Provence), which the import corrects
    /// since coordinates are checked against the department (#19.6); here Reims's own.
    const EXAMPLE_CSV: &str = r#""id","pivot","nom","commune","code_postal","code_insee","adresse","complement_adresse","latitude","longitude","typologie","telephone","courriels","site_web","horaires","presentation_resume","presentation_detail","source","itinerance","structure_parente","date_maj","services","publics_specifiquement_adresses","prise_en_charge_specifique","frais_a_charge","dispositif_programmes_nationaux",formations_labels,autres_formations_labels,modalites_acces,modalites_accompagnement,"fiche_acces_libre","prise_rdv"
"structure-1","43493312300029","Anonymal","Reims","51100","51454","12 BIS RUE DE LECLERCQ","Le patio du bois de l'Aulne","49.26278","4.03472","TIERS_LIEUX|ASSO","+33180059880","contact@laquincaillerie.tl|responsable@laquincaillerie.tl","https://www.laquincaillerie.tl/|https://m.facebook.com/laquincaillerienumerique/","Mo-Fr 09:00-12:00,14:00-18:30; Sa 08:30-12:00","Notre association propose des formations aux outils numériques à destination des personnes âgées.","Notre parcours d'initiation permet l'acquisition de compétences numériques de base. Nous proposons également un accompagnement à destination des personnes déjà initiées qui souhaiteraient approfondir leurs connaissances. Du matériel informatique est en libre accès pour nos adhérents tous les après-midis. En plus de d'accueillir les personnes dans notre lieu en semaine (sur rendez-vous), nous assurons une permanence le samedi matin dans la médiathèque XX.","Hubik","Itinérant","SIRET de la ville pour une bibliothèque.","2024-04-02","Maîtrise des outils numériques du quotidien|Insertion professionnelle via le numérique|Loisirs et créations numériques","Jeunes|Femmes","Surdité|Illettrisme|Langues étrangères (anglais)","Gratuit sous condition|Payant","Aidants Connect|Conseillers numériques|La Croix Rouge","Formé à « Mon Espace Santé »|Arnia/MedNum BFC (Bourgogne-Franche-Comté)","Label et la bête","Se présenter|Téléphoner","Dans un atelier collectif|À distance|En autonomie|Accompagnement individuel","https://acceslibre.beta.gouv.fr/app/29-lampaul-plouarzel/a/bibliotheque-mediatheque/erp/mediatheque-13/","https://www.rdv-solidarites.fr/"
"#;

    fn example() -> (Vec<String>, NewSite) {
        let mut reader = csv::Reader::from_reader(EXAMPLE_CSV.as_bytes());
        let headers: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        let record = reader.records().next().unwrap().unwrap();
        let fields: Vec<String> = record.iter().map(str::to_owned).collect();
        let row: RawRow = headers
            .iter()
            .cloned()
            .zip(fields.iter().cloned())
            .collect();
        assert_eq!(headers, V1_COLUMNS);
        match parse_row(StandardVersion::V1_0, &row) {
            RowOutcome::Valid { site, corrections } => {
                assert!(corrections.is_empty(), "{corrections:?}");
                (fields, site)
            }
            RowOutcome::Rejected { issues } => panic!("{issues:?}"),
        }
    }

    #[test]
    fn example_row_round_trips() {
        let (fields, site) = example();
        assert_eq!(
            site.mapped_values(ValueKind::Fee),
            ["Gratuit sous condition", "Payant"]
        );
        assert_eq!(site.emails.len(), 2);
        let exported = to_v1_record(&site, true);
        assert_eq!(exported.len(), V1_COLUMNS.len());
        for ((column, original), written) in V1_COLUMNS.iter().zip(&fields).zip(&exported) {
            assert_eq!(original, written, "column {column}");
        }
        let without_emails = to_v1_record(&site, false);
        assert_eq!(without_emails[12], "");
    }

    #[test]
    fn long_summary_is_cut_and_kept_in_detail() {
        let (_, mut site) = example();
        let long = "é".repeat(300);
        site.summary = Some(long.clone());
        site.description = None;
        let record = to_v1_record(&site, false);
        assert_eq!(record[15].chars().count(), V1_SUMMARY_MAX_CHARS);
        assert!(record[15].ends_with('…'));
        assert_eq!(record[16], long);

        site.description = Some("Détail.".into());
        let record = to_v1_record(&site, false);
        assert_eq!(record[16], format!("{long}\n\nDétail."));
    }

    #[test]
    fn values_the_schema_refuses_are_never_written() {
        let (_, mut site) = example();
        site.phone = Some("0472102030".into());
        site.latitude = None;
        site.values = vec![
            TaggedValue {
                kind: ValueKind::Service,
                value: Some("Bogus".into()),
                raw: "Bogus".into(),
            },
            TaggedValue {
                kind: ValueKind::Service,
                value: None,
                raw: "Inconnu".into(),
            },
            TaggedValue {
                kind: ValueKind::Service,
                value: Some("Aide aux démarches administratives".into()),
                raw: "Devenir autonome dans les démarches administratives".into(),
            },
            TaggedValue {
                kind: ValueKind::Service,
                value: Some("Aide aux démarches administratives".into()),
                raw: "Accompagner les démarches de santé".into(),
            },
            TaggedValue {
                kind: ValueKind::Public,
                value: None,
                raw: "Adultes".into(),
            },
        ];
        let record = to_v1_record(&site, false);
        assert_eq!(record[11], "", "phone not in international form");
        assert_eq!(
            (record[8].as_str(), record[9].as_str()),
            ("", ""),
            "coordinates go in pairs"
        );
        assert_eq!(record[21], "Aide aux démarches administratives");
        assert_eq!(record[22], "");
    }

    #[test]
    fn v0_1_websites_use_the_v1_separator() {
        let (_, mut site) = example();
        site.standard_version = StandardVersion::V0_1;
        site.website = Some("https://a.fr/; https://b.fr/".into());
        assert_eq!(
            to_v1_record(&site, false)[13],
            "https://a.fr/|https://b.fr/"
        );
    }
}
