//! The communes reference table (`crates/sites/data/communes.csv`, built by `scripts/communes.sh`): INSEE code,
//! name, postal codes, department and centre of every current commune.
//!
//! Used for the INSEE lookup of mappings (postal code + commune name → INSEE code, hence the department) and by
//! the import's validation (a postal code of no commune; coordinates far outside the department). Parsed once, on
//! first use.

use maillage_core::text::fold;
use std::collections::HashMap;
use std::sync::LazyLock;

const TABLE: &str = include_str!("../../data/communes.csv");

/// How far (in degrees, about 20 km) a site may lie outside the box of its department's commune centres: a centre
/// is not a border, and a commune reaches a few kilometres beyond its centre.
pub const MARGIN_DEGREES: f64 = 0.2;

/// One commune.
#[derive(Debug, Clone, PartialEq)]
pub struct Commune {
    /// INSEE code.
    pub insee: String,
    /// Official name.
    pub name: String,
    /// Its postal codes.
    pub postal_codes: Vec<String>,
    /// Its department code.
    pub department: String,
    /// The centre (latitude, longitude), when the table has it.
    pub centre: Option<(f64, f64)>,
}

/// A latitude/longitude box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    /// Southern edge.
    pub min_lat: f64,
    /// Northern edge.
    pub max_lat: f64,
    /// Western edge.
    pub min_lon: f64,
    /// Eastern edge.
    pub max_lon: f64,
}

impl Bounds {
    /// Whether the point is inside.
    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        (self.min_lat..=self.max_lat).contains(&lat) && (self.min_lon..=self.max_lon).contains(&lon)
    }

    fn extend(&mut self, lat: f64, lon: f64) {
        self.min_lat = self.min_lat.min(lat);
        self.max_lat = self.max_lat.max(lat);
        self.min_lon = self.min_lon.min(lon);
        self.max_lon = self.max_lon.max(lon);
    }

    fn widened(self, margin: f64) -> Self {
        Self {
            min_lat: self.min_lat - margin,
            max_lat: self.max_lat + margin,
            min_lon: self.min_lon - margin,
            max_lon: self.max_lon + margin,
        }
    }
}

struct Table {
    communes: Vec<Commune>,
    by_postal_code: HashMap<String, Vec<usize>>,
    departments: HashMap<String, Bounds>,
}

static COMMUNES: LazyLock<Table> = LazyLock::new(load);

fn load() -> Table {
    let mut reader = csv::Reader::from_reader(TABLE.as_bytes());
    let mut communes = Vec::new();
    for record in reader.records().flatten() {
        let cell = |i: usize| record.get(i).unwrap_or_default();
        let centre = match (cell(4).parse::<f64>(), cell(5).parse::<f64>()) {
            (Ok(lat), Ok(lon)) => Some((lat, lon)),
            _ => None,
        };
        communes.push(Commune {
            insee: cell(0).to_owned(),
            name: cell(1).to_owned(),
            postal_codes: cell(2).split_whitespace().map(str::to_owned).collect(),
            department: cell(3).to_owned(),
            centre,
        });
    }
    centre_cities_with_arrondissements(&mut communes);
    let mut by_postal_code: HashMap<String, Vec<usize>> = HashMap::new();
    let mut departments: HashMap<String, Bounds> = HashMap::new();
    for (i, commune) in communes.iter().enumerate() {
        for code in &commune.postal_codes {
            by_postal_code.entry(code.clone()).or_default().push(i);
        }
        if let Some((lat, lon)) = commune.centre {
            departments
                .entry(commune.department.clone())
                .and_modify(|b| b.extend(lat, lon))
                .or_insert(Bounds {
                    min_lat: lat,
                    max_lat: lat,
                    min_lon: lon,
                    max_lon: lon,
                });
        }
    }
    let departments = departments
        .into_iter()
        .map(|(d, b)| (d, b.widened(MARGIN_DEGREES)))
        .collect();
    Table {
        communes,
        by_postal_code,
        departments,
    }
}

/// Paris, Lyon and Marseille as whole communes (the INSEE codes people type for them) have no centre in the table,
/// only their arrondissements have: each gets the mean of its arrondissements' centres, so that "near Lyon"
/// (`69123`) works like "near Lyon 1er" (`69381`).
fn centre_cities_with_arrondissements(communes: &mut [Commune]) {
    const CITIES: [(&str, &str); 3] = [("75056", "751"), ("69123", "6938"), ("13055", "132")];
    for (city, prefix) in CITIES {
        let centres: Vec<(f64, f64)> = communes
            .iter()
            .filter(|c| c.insee != city && c.insee.starts_with(prefix) && c.department == city[..2])
            .filter_map(|c| c.centre)
            .collect();
        if centres.is_empty() {
            continue;
        }
        let n = centres.len() as f64;
        let mean = (
            centres.iter().map(|c| c.0).sum::<f64>() / n,
            centres.iter().map(|c| c.1).sum::<f64>() / n,
        );
        for commune in communes
            .iter_mut()
            .filter(|c| c.insee == city && c.centre.is_none())
        {
            commune.centre = Some(mean);
        }
    }
}

/// Every commune of the table (about 35 000).
pub fn all() -> &'static [Commune] {
    &COMMUNES.communes
}

/// The communes that have this postal code.
pub fn by_postal_code(postal_code: &str) -> Vec<&'static Commune> {
    let table = &*COMMUNES;
    table
        .by_postal_code
        .get(postal_code.trim())
        .map(|ids| ids.iter().map(|&i| &table.communes[i]).collect())
        .unwrap_or_default()
}

/// Whether any commune has this postal code.
pub fn is_known_postal_code(postal_code: &str) -> bool {
    COMMUNES.by_postal_code.contains_key(postal_code.trim())
}

/// The INSEE code of the commune with this postal code and name (case, accents, hyphens and `St`/`Saint` ignored);
/// the only commune of the postal code when the name is missing or matches none but the postal code has one commune.
pub fn insee_code(postal_code: &str, name: Option<&str>) -> Option<&'static str> {
    let candidates = by_postal_code(postal_code);
    if let Some(name) = name {
        let key = name_key(name);
        if let Some(found) = candidates.iter().find(|c| name_key(&c.name) == key) {
            return Some(&found.insee);
        }
    }
    match candidates.as_slice() {
        [only] => Some(&only.insee),
        _ => None,
    }
}

/// The box of a department's commune centres, widened by [`MARGIN_DEGREES`]; `None` when the table has no centres
/// for it.
pub fn department_bounds(department: &str) -> Option<Bounds> {
    COMMUNES.departments.get(department).copied()
}

/// Whether the point is within [`MARGIN_DEGREES`] of the box of some department (France, overseas included).
pub fn in_france(lat: f64, lon: f64) -> bool {
    COMMUNES.departments.values().any(|b| b.contains(lat, lon))
}

/// A commune name as compared: folded, with hyphens and apostrophes as spaces, `st`/`ste` as `saint`/`sainte`.
fn name_key(name: &str) -> String {
    fold(name)
        .replace(['-', '\'', '’'], " ")
        .split_whitespace()
        .map(|w| match w {
            "st" => "saint",
            "ste" => "sainte",
            w => w,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn looks_up_insee_codes_and_bounds() {
        assert!(all().len() > 34_000);
        assert_eq!(insee_code("21000", Some("DIJON")), Some("21231"));
        assert_eq!(
            insee_code("69230", Some("saint-genis-laval")),
            Some("69204")
        );
        assert_eq!(insee_code("69230", Some("St Genis Laval")), Some("69204"));
        assert_eq!(insee_code("00000", Some("Nulle part")), None);
        assert!(!is_known_postal_code("97500") || by_postal_code("97500")[0].department == "975");
        let rhone = department_bounds("69").unwrap();
        assert!(rhone.contains(45.76, 4.83), "Lyon");
        assert!(!rhone.contains(4.83, 45.76), "swapped");
        assert!(!rhone.contains(43.3, 5.37), "Marseille");
        assert!(in_france(-21.1, 55.5), "La Réunion");
        assert!(!in_france(4.83, 45.76));
    }

    #[test]
    fn cities_with_arrondissements_have_a_centre() {
        let centre = |insee: &str| {
            all()
                .iter()
                .find(|c| c.insee == insee)
                .and_then(|c| c.centre)
                .unwrap_or_else(|| panic!("no centre for {insee}"))
        };
        for (insee, (lat, lon)) in [
            ("75056", (48.86, 2.34)),
            ("69123", (45.76, 4.84)),
            ("13055", (43.30, 5.40)),
        ] {
            let (clat, clon) = centre(insee);
            assert!(
                (clat - lat).abs() < 0.05 && (clon - lon).abs() < 0.08,
                "{insee}: {clat}, {clon}"
            );
        }
    }
}
