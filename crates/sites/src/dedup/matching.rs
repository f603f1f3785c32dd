//! Finding candidate pairs among source records: blocking, then scoring each pair of a block.
//!
//! Pure: the caller loads [`MatchInput`]s and stores the [`Candidate`]s. Blocking keeps the cost close to linear:
//! two records are compared only when they share a key (a real pivot, a phone, an e-mail, a web domain, a
//! neighbouring ~200 m grid cell, or a commune together with a name word or the whole address). A key shared by
//! more than [`MAX_BLOCK`] records is too common to be evidence (a national hotline, a platform's domain, a
//! word such as "france" in a large city) and is skipped, which also bounds the work per block.

use super::normalize;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// Records sharing one blocking key beyond this number are not compared through it.
pub const MAX_BLOCK: usize = 40;

/// The lowest score a pair needs to be kept as a candidate.
pub const MIN_SCORE: f64 = 0.5;

/// Grid cells for the coordinates block, in degrees: about 220 m north–south and 240 m east–west in France.
pub(crate) const CELL_LAT: f64 = 0.002;
pub(crate) const CELL_LON: f64 = 0.003;

/// What matching needs of one source record (read from the narrow columns of `site`).
#[derive(Debug, Clone, PartialEq)]
pub struct MatchInput {
    /// The site's id.
    pub id: i32,
    /// The import source (feed).
    pub source: String,
    /// The row's own `source` column, when given: files such as the Hub du Sud's mix several origins in one feed.
    pub source_label: Option<String>,
    /// SIRET / RNA (the placeholder is ignored).
    pub pivot: String,
    /// `nom`.
    pub name: String,
    /// `commune`.
    pub commune: String,
    /// `code_insee`.
    pub insee_code: Option<String>,
    /// The site's department.
    pub department_code: Option<String>,
    /// `adresse`.
    pub address: String,
    /// Coordinates.
    pub latitude: Option<f64>,
    /// Coordinates.
    pub longitude: Option<f64>,
    /// `telephone`.
    pub phone: Option<String>,
    /// E-mails, `|`-separated as stored.
    pub emails: Option<String>,
    /// `site_web`.
    pub website: Option<String>,
}

impl MatchInput {
    /// Where the record comes from: its feed and, within it, the row's own source label. Two records are only
    /// compared when these differ, because one origin does not list the same place twice on purpose, while two
    /// origins sharing one feed (the Hub du Sud file) are exactly the duplicates to find.
    pub fn origin(&self) -> (&str, &str) {
        (
            self.source.as_str(),
            self.source_label.as_deref().map_or("", str::trim),
        )
    }
}

/// One reason a pair is a candidate, with what it added to the score.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Reason {
    /// Stable code: `same_pivot`, `same_name`, `similar_name`, `name_contained`, `same_address`,
    /// `similar_address`, `same_commune`, `within_30m`, `within_150m`, `far_apart`, `same_phone`, `same_email`,
    /// `same_web_domain`.
    pub code: String,
    /// Its weight in the score (negative for evidence against).
    pub weight: f64,
    /// A human detail (the distance, the shared value…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A candidate pair: `a < b`, a score in [0, 1] and the reasons that made it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The smaller site id.
    pub a: i32,
    /// The larger site id.
    pub b: i32,
    /// Sum of the reasons' weights, clamped to [0, 1].
    pub score: f64,
    /// Why.
    pub reasons: Vec<Reason>,
}

/// A record in normal form.
struct Prepared {
    id: i32,
    origin: (String, String),
    department: Option<String>,
    pivot: Option<String>,
    name: String,
    name_tokens: Vec<String>,
    commune: String,
    insee: Option<String>,
    address: String,
    street_number: Option<String>,
    coordinates: Option<(f64, f64)>,
    phone: Option<String>,
    emails: Vec<String>,
    web: Option<String>,
}

fn prepare(r: &MatchInput) -> Prepared {
    let (source, label) = r.origin();
    let pivot = r.pivot.trim();
    let real_pivot = !pivot.is_empty() && !pivot.chars().all(|c| c == '0');
    let name_tokens = normalize::name_tokens(&r.name);
    let address = normalize::address(&r.address);
    let street_number = address
        .split(' ')
        .find(|t| t.chars().all(|c| c.is_ascii_digit()))
        .map(str::to_owned);
    Prepared {
        id: r.id,
        origin: (source.to_owned(), label.to_owned()),
        department: r.department_code.clone(),
        pivot: real_pivot.then(|| pivot.to_owned()),
        name: name_tokens.join(" "),
        name_tokens,
        commune: normalize::commune(&r.commune),
        insee: r.insee_code.clone(),
        address,
        street_number,
        coordinates: r
            .latitude
            .zip(r.longitude)
            .filter(|(la, lo)| la.is_finite() && lo.is_finite() && (*la != 0.0 || *lo != 0.0)),
        phone: r.phone.as_deref().and_then(normalize::phone),
        emails: r
            .emails
            .as_deref()
            .unwrap_or_default()
            .split('|')
            .filter_map(normalize::email)
            .collect(),
        web: r.website.as_deref().and_then(normalize::web_domain),
    }
}

/// How often each value of a signal occurs, so that values shared by many records count for nothing.
#[derive(Default)]
struct Frequencies {
    pivot: HashMap<String, usize>,
    phone: HashMap<String, usize>,
    email: HashMap<String, usize>,
    web: HashMap<String, usize>,
}

impl Frequencies {
    fn of(records: &[Prepared]) -> Self {
        let mut f = Self::default();
        for r in records {
            if let Some(p) = &r.pivot {
                *f.pivot.entry(p.clone()).or_default() += 1;
            }
            if let Some(p) = &r.phone {
                *f.phone.entry(p.clone()).or_default() += 1;
            }
            for e in &r.emails {
                *f.email.entry(e.clone()).or_default() += 1;
            }
            if let Some(w) = &r.web {
                *f.web.entry(w.clone()).or_default() += 1;
            }
        }
        f
    }
}

fn rare(map: &HashMap<String, usize>, value: &str) -> bool {
    map.get(value).is_some_and(|n| *n <= MAX_BLOCK)
}

/// Blocking keys of one record.
fn keys(r: &Prepared, f: &Frequencies) -> Vec<String> {
    let mut out = Vec::new();
    let place = r.department.as_deref().unwrap_or("-");
    if let Some(p) = r.pivot.as_ref().filter(|p| rare(&f.pivot, p)) {
        out.push(format!("p:{p}"));
    }
    if let Some(p) = r.phone.as_ref().filter(|p| rare(&f.phone, p)) {
        out.push(format!("t:{p}"));
    }
    for e in r.emails.iter().filter(|e| rare(&f.email, e)) {
        out.push(format!("e:{e}"));
    }
    if let Some(w) = r.web.as_ref().filter(|w| rare(&f.web, w)) {
        out.push(format!("w:{w}"));
    }
    if !r.address.is_empty() {
        out.push(format!("a:{place}:{}:{}", r.commune, r.address));
    }
    for t in r
        .name_tokens
        .iter()
        .filter(|t| !normalize::is_generic_name_word(t))
    {
        out.push(format!("n:{place}:{}:{t}", r.commune));
    }
    out
}

fn cell(c: (f64, f64)) -> (i64, i64) {
    // Saturating float-to-int casts: coordinates are finite and small, the cast cannot lose meaning.
    (
        (c.0 / CELL_LAT).floor() as i64,
        (c.1 / CELL_LON).floor() as i64,
    )
}

/// Every candidate pair among `records`; with `only`, just the pairs with at least one record in it (incremental
/// matching after an import).
pub fn find_candidates(records: &[MatchInput], only: Option<&HashSet<i32>>) -> Vec<Candidate> {
    let prepared: Vec<Prepared> = records.iter().map(prepare).collect();
    let freq = Frequencies::of(&prepared);
    let mut blocks: HashMap<String, Vec<usize>> = HashMap::new();
    let mut cells: HashMap<(i64, i64), Vec<usize>> = HashMap::new();
    for (i, r) in prepared.iter().enumerate() {
        for k in keys(r, &freq) {
            blocks.entry(k).or_default().push(i);
        }
        if let Some(c) = r.coordinates {
            cells.entry(cell(c)).or_default().push(i);
        }
    }
    let wanted = |i: usize| only.is_none_or(|set| set.contains(&prepared[i].id));
    let mut pairs: HashSet<(usize, usize)> = HashSet::new();
    let consider = |i: usize, j: usize, pairs: &mut HashSet<(usize, usize)>| {
        if i != j && prepared[i].origin != prepared[j].origin && (wanted(i) || wanted(j)) {
            pairs.insert(if prepared[i].id < prepared[j].id {
                (i, j)
            } else {
                (j, i)
            });
        }
    };
    for members in blocks
        .values()
        .filter(|m| m.len() > 1 && m.len() <= MAX_BLOCK)
    {
        for (n, &i) in members.iter().enumerate() {
            for &j in &members[n + 1..] {
                consider(i, j, &mut pairs);
            }
        }
    }
    for (&(y, x), members) in &cells {
        if members.len() > MAX_BLOCK * 4 {
            continue;
        }
        // Each unordered pair of cells once: this cell with itself and with the four "later" neighbours.
        for (dy, dx) in [(0, 0), (0, 1), (1, -1), (1, 0), (1, 1)] {
            let Some(others) = cells.get(&(y + dy, x + dx)) else {
                continue;
            };
            if others.len() > MAX_BLOCK * 4 {
                continue;
            }
            for (n, &i) in members.iter().enumerate() {
                let rest = if (dy, dx) == (0, 0) {
                    &members[n + 1..]
                } else {
                    &others[..]
                };
                for &j in rest {
                    consider(i, j, &mut pairs);
                }
            }
        }
    }
    let mut out: Vec<Candidate> = pairs
        .into_iter()
        .filter_map(|(i, j)| score(&prepared[i], &prepared[j], &freq))
        .collect();
    out.sort_by_key(|c| (c.a, c.b));
    out
}

fn reason(code: &str, weight: f64, detail: Option<String>) -> Reason {
    Reason {
        code: code.to_owned(),
        weight,
        detail,
    }
}

/// How alike two names are, in [0, 1]: the better of word overlap and Sørensen–Dice on letter pairs (typos).
///
/// Not Jaro–Winkler: it rewards a common prefix, and many names share one ("Association …", "Espace …").
fn name_similarity(a: &Prepared, b: &Prepared) -> f64 {
    if a.name.is_empty() || b.name.is_empty() {
        return 0.0;
    }
    let sa: HashSet<&str> = a.name_tokens.iter().map(String::as_str).collect();
    let sb: HashSet<&str> = b.name_tokens.iter().map(String::as_str).collect();
    let inter = sa.intersection(&sb).count() as f64;
    let union = sa.union(&sb).count() as f64;
    let jaccard = if union > 0.0 { inter / union } else { 0.0 };
    jaccard.max(strsim::sorensen_dice(&a.name, &b.name))
}

/// Scores one pair; `None` when it is not a candidate.
///
/// A candidate needs [`MIN_SCORE`] *and* evidence about the structure itself (its name, pivot, phone or e-mail):
/// two different lieux often share a building (a mairie and its médiathèque), so an address alone is not enough.
fn score(a: &Prepared, b: &Prepared, freq: &Frequencies) -> Option<Candidate> {
    let mut reasons = Vec::new();
    let mut identity = false;
    if let (Some(pa), Some(pb)) = (&a.pivot, &b.pivot)
        && pa == pb
        && rare(&freq.pivot, pa)
    {
        reasons.push(reason("same_pivot", 0.4, Some(pa.clone())));
        identity = true;
    }
    let similarity = name_similarity(a, b);
    if !a.name.is_empty() && a.name == b.name {
        reasons.push(reason("same_name", 0.35, Some(a.name.clone())));
        identity = true;
    } else if similarity >= 0.88 {
        reasons.push(reason(
            "similar_name",
            0.25,
            Some(format!("{similarity:.2}")),
        ));
        identity = true;
    } else {
        let (short, long) = if a.name_tokens.len() <= b.name_tokens.len() {
            (a, b)
        } else {
            (b, a)
        };
        let contained = !short.name_tokens.is_empty()
            && short
                .name_tokens
                .iter()
                .any(|t| !normalize::is_generic_name_word(t))
            && short
                .name_tokens
                .iter()
                .all(|t| long.name_tokens.contains(t));
        if contained {
            reasons.push(reason("name_contained", 0.15, Some(short.name.clone())));
            identity = true;
        }
    }
    let same_commune = match (&a.insee, &b.insee) {
        (Some(x), Some(y)) => x == y,
        _ => !a.commune.is_empty() && a.commune == b.commune && a.department == b.department,
    };
    if same_commune && !a.address.is_empty() {
        if a.address == b.address {
            reasons.push(reason("same_address", 0.3, Some(a.address.clone())));
        } else if a.street_number == b.street_number
            && strsim::jaro_winkler(&a.address, &b.address) >= 0.9
        {
            reasons.push(reason("similar_address", 0.2, None));
        } else {
            reasons.push(reason("same_commune", 0.05, None));
        }
    }
    if let (Some(ca), Some(cb)) = (a.coordinates, b.coordinates) {
        let d = normalize::distance_m(ca, cb);
        let detail = Some(format!("{d:.0} m"));
        if d <= 30.0 {
            reasons.push(reason("within_30m", 0.25, detail));
        } else if d <= 150.0 {
            reasons.push(reason("within_150m", 0.15, detail));
        } else if d > 2_000.0 {
            reasons.push(reason("far_apart", -0.3, detail));
        }
    }
    if let (Some(pa), Some(pb)) = (&a.phone, &b.phone)
        && pa == pb
        && rare(&freq.phone, pa)
    {
        reasons.push(reason("same_phone", 0.25, None));
        identity = true;
    }
    if a.emails
        .iter()
        .any(|e| b.emails.contains(e) && rare(&freq.email, e))
    {
        reasons.push(reason("same_email", 0.25, None));
        identity = true;
    }
    if let (Some(wa), Some(wb)) = (&a.web, &b.web)
        && wa == wb
        && rare(&freq.web, wa)
    {
        reasons.push(reason("same_web_domain", 0.15, Some(wa.clone())));
    }
    let total: f64 = reasons.iter().map(|r| r.weight).sum();
    let score = (total.clamp(0.0, 1.0) * 1000.0).round() / 1000.0;
    (identity && score >= MIN_SCORE).then_some(Candidate {
        a: a.id,
        b: b.id,
        score,
        reasons,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(id: i32, source: &str, name: &str, address: &str) -> MatchInput {
        MatchInput {
            id,
            source: source.to_owned(),
            source_label: None,
            pivot: "00000000000000".to_owned(),
            name: name.to_owned(),
            commune: "Aups".to_owned(),
            insee_code: None,
            department_code: Some("83".to_owned()),
            address: address.to_owned(),
            latitude: Some(43.62506),
            longitude: Some(6.22323),
            phone: None,
            emails: None,
            website: None,
        }
    }

    #[test]
    fn same_place_in_two_sources_is_a_candidate_with_its_reasons() {
        let a = input(1, "a", "Médiathèque de St-Martin", "27bis Bd Louis-Braille");
        let b = input(
            2,
            "b",
            "MAIRIE DE SAINT MARTIN",
            "27 bis boulevard Louis Braille",
        );
        let found = find_candidates(&[a, b], None);
        assert_eq!(found.len(), 1);
        let codes: Vec<&str> = found[0].reasons.iter().map(|r| r.code.as_str()).collect();
        assert_eq!(codes, ["same_name", "same_address", "within_30m"]);
        assert!((found[0].score - 0.9).abs() < 1e-9);
    }

    #[test]
    fn one_origin_is_never_matched_with_itself_but_labels_split_a_feed() {
        let a = input(1, "a", "Lieu X", "1 rue Y");
        let b = input(2, "a", "Lieu X", "1 rue Y");
        assert!(find_candidates(&[a.clone(), b.clone()], None).is_empty());
        let mut b = b;
        b.source_label = Some("dora".to_owned());
        assert_eq!(find_candidates(&[a, b], None).len(), 1);
    }

    #[test]
    fn a_shared_building_alone_is_not_a_candidate() {
        let a = input(1, "a", "France services Aups", "1 place de la Mairie");
        let b = input(2, "b", "Espace jeunes", "1 place de la Mairie");
        assert!(find_candidates(&[a, b], None).is_empty());
    }

    #[test]
    fn far_apart_homonyms_are_not_candidates() {
        let a = input(1, "a", "Espace numérique", "1 rue A");
        let mut b = input(2, "b", "Espace numérique", "9 avenue B");
        b.latitude = Some(43.7);
        assert!(find_candidates(&[a, b], None).is_empty());
    }

    #[test]
    fn incremental_matching_keeps_only_pairs_touching_the_changed_records() {
        let rows = [
            input(1, "a", "Lieu X", "1 rue Y"),
            input(2, "b", "Lieu X", "1 rue Y"),
            input(3, "c", "Lieu X", "1 rue Y"),
        ];
        assert_eq!(find_candidates(&rows, None).len(), 3);
        let only: HashSet<i32> = [3].into();
        let found = find_candidates(&rows, Some(&only));
        assert_eq!(
            found.iter().map(|c| (c.a, c.b)).collect::<Vec<_>>(),
            [(1, 3), (2, 3)]
        );
    }

    #[test]
    fn the_placeholder_pivot_is_no_signal_and_a_real_one_is() {
        let mut a = input(1, "a", "Association Alpha", "1 rue A");
        let mut b = input(2, "b", "Association Beta", "1 rue A");
        assert!(find_candidates(&[a.clone(), b.clone()], None).is_empty());
        a.pivot = "12345678901234".to_owned();
        b.pivot = "12345678901234".to_owned();
        let found = find_candidates(&[a, b], None);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].reasons[0].code, "same_pivot");
    }
}
