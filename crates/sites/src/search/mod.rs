//! Full-text search over sites, through each database's own engine: SQLite FTS5, PostgreSQL `tsvector`.
//!
//! Both engines index the same *document*, computed here in Rust and stored in `site.search_text` by every writer
//! (API and imports share [`crate::write`]'s row builder): `<name words> | <other words>`, where every word went
//! through [`words`]. Doing the linguistics once, in Rust, is what makes the two backends answer alike: neither
//! engine has to know about NFD input, "st"/"saint" or French plurals, and no PostgreSQL extension is needed.
//! Database triggers (migration `m20261205_000014_search`) keep each engine's index in step with `search_text`,
//! whoever writes the row.
//!
//! A query is split into the same words; each word must occur (AND), and a word of five letters or more that the
//! index does not know is widened to the indexed words within one edit of it (typo tolerance).

use crate::SitesError;
use crate::model::{NewSite, ValueKind};
use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Words shorter than this are matched exactly: one edit on a short word changes it into another word.
pub const TYPO_MIN_LETTERS: usize = 5;

/// At most this many words of a query are used: ranking gives each one a tier, and a pasted paragraph should not
/// turn into a hundred index look-ups.
pub const MAX_QUERY_WORDS: usize = 8;

/// Separates the name's words from the other words in a document.
const NAME_SEPARATOR: &str = " | ";

/// The searchable words of `text`: NFC, case-folded, accents removed, split on anything not a letter or digit
/// (hyphens, apostrophes), with "st"/"ste" read as "saint"/"sainte" and French plurals reduced to the singular.
///
/// ```text
/// "Saint-Étienne" → ["saint", "etienne"]      "ST ETIENNE" → ["saint", "etienne"]
/// "Médiathèques"  → ["mediatheque"]           "Bureaux"    → ["bureau"]
/// ```
pub fn words(text: &str) -> Vec<String> {
    let composed: String = text.nfc().collect();
    let folded = maillage_core::text::fold(&composed);
    // `fold` knows French letters; any other accent (and any mark NFC could not compose) goes here.
    let bare: String = folded.nfd().filter(|c| !is_combining_mark(*c)).collect();
    bare.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(normalise_word)
        .collect()
}

fn normalise_word(word: &str) -> String {
    match word {
        "st" | "sts" => return "saint".to_owned(),
        "ste" | "stes" => return "sainte".to_owned(),
        _ => {}
    }
    let len = word.chars().count();
    if len <= 3 || word.chars().all(|c| c.is_ascii_digit()) {
        return word.to_owned();
    }
    if let Some(stem) = word.strip_suffix("aux")
        && len > 4
    {
        // locaux → local, généraux → général (bureaux and jeux are handled below by the `x` rule).
        if !stem.ends_with('e') {
            return format!("{stem}al");
        }
    }
    if let Some(stem) = word.strip_suffix('x')
        && stem.ends_with('u')
    {
        return stem.to_owned();
    }
    if let Some(stem) = word.strip_suffix('s')
        && !stem.ends_with('s')
    {
        return stem.to_owned();
    }
    word.to_owned()
}

/// The document indexed for a site: its name's words, then those of its commune, address, presentation, services
/// and labels.
pub fn document(site: &NewSite) -> String {
    let mut other: Vec<&str> = vec![site.commune.as_str(), site.address.as_str()];
    other.extend(site.address_complement.as_deref());
    other.extend(site.summary.as_deref());
    other.extend(site.description.as_deref());
    other.extend(site.other_labels.as_deref());
    other.extend(
        site.values
            .iter()
            .filter(|v| {
                matches!(
                    v.kind,
                    ValueKind::Service | ValueKind::NationalProgramme | ValueKind::TrainingLabel
                )
            })
            .map(|v| v.raw.as_str()),
    );
    let name = words(&site.name).join(" ");
    let rest = other
        .iter()
        .flat_map(|t| words(t))
        .collect::<Vec<_>>()
        .join(" ");
    format!("{name}{NAME_SEPARATOR}{rest}")
}

/// The name part of a stored document (an older document without a separator is all name).
pub(crate) fn name_words(document: &str) -> impl Iterator<Item = &str> {
    document
        .split_once(NAME_SEPARATOR.trim())
        .map_or(document, |(name, _)| name)
        .split_whitespace()
}

/// Rewrites the stored document and week form of every site whose ones differ from what [`document`] and
/// [`opening_week`] give today, and
/// returns how many changed: run after an upgrade that changes [`words`] (or the migration that introduced this
/// search), e.g. `maillage_sites::search::reindex(&db)` from an operator's task. The triggers then update each
/// engine's index; versions and `updated_at` are left alone, since the content did not change.
pub async fn reindex<C: ConnectionTrait>(db: &C) -> Result<u64, SitesError> {
    use crate::entity::site;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
    const CHUNK: u64 = 500;
    let mut changed = 0;
    let mut last = 0;
    loop {
        let rows = site::Entity::find()
            .filter(site::Column::Id.gt(last))
            .order_by_asc(site::Column::Id)
            .limit(CHUNK)
            .all(db)
            .await?;
        let Some(tail) = rows.last() else {
            return Ok(changed);
        };
        last = tail.id;
        let stored: Vec<(i32, String, Option<String>)> = rows
            .iter()
            .map(|r| (r.id, r.search_text.clone(), r.opening_week.clone()))
            .collect();
        let sites = crate::query::hydrate(db, rows).await?;
        for (site, (id, old, old_week)) in sites.iter().zip(stored) {
            let new = document(&site.data);
            let week = opening_week(&site.data);
            if new != old || week != old_week {
                site::Entity::update_many()
                    .col_expr(site::Column::SearchText, Expr::val(new))
                    .col_expr(site::Column::OpeningWeek, Expr::val(week))
                    .filter(site::Column::Id.eq(id))
                    .exec(db)
                    .await?;
                changed += 1;
            }
        }
    }
}

/// The version of [`words`] and [`document`]: raise it whenever they change, and the next start rewrites every
/// stored document ([`ensure_current`]).
pub const DOCUMENT_VERSION: i32 = 1;

/// What `search_index_version` records: both derived forms, so that a change of either rebuilds them.
const INDEX_VERSION: i32 = DOCUMENT_VERSION * 1000 + crate::hours::WEEK_FORM_VERSION;

/// The stored week form of a site's opening hours (see [`crate::hours::Week`]); `None` when they are absent or
/// unparsable ("hours unknown").
pub fn opening_week(site: &NewSite) -> Option<String> {
    let hours = crate::hours::parse_hours(site.opening_hours.as_deref()?).ok()?;
    Some(hours.week().encode())
}

/// Rewrites the stored documents if they were made by an older [`DOCUMENT_VERSION`] (or before this search
/// existed), then records the version; a no-op otherwise. Run at start-up, under the migration lock.
pub async fn ensure_current<C: ConnectionTrait>(db: &C) -> Result<Option<u64>, SitesError> {
    let backend = db.get_database_backend();
    let stored = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT version FROM search_index_version WHERE id = 1",
        ))
        .await?
        .map(|r| r.try_get_by_index::<i32>(0))
        .transpose()?;
    if stored == Some(INDEX_VERSION) {
        return Ok(None);
    }
    let changed = reindex(db).await?;
    let sql = match backend {
        DatabaseBackend::Postgres => {
            "INSERT INTO search_index_version (id, version) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version"
        }
        _ => {
            "INSERT INTO search_index_version (id, version) VALUES (1, ?) \
             ON CONFLICT (id) DO UPDATE SET version = excluded.version"
        }
    };
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [INDEX_VERSION.into()],
    ))
    .await?;
    Ok(Some(changed))
}

/// A text query ready for the engine: one group per word, each group the word and its accepted misspellings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextQuery {
    groups: Vec<Vec<String>>,
}

impl TextQuery {
    /// The words of `text` as a query, before typo widening; `None` when it has no word at all.
    pub fn parse(text: &str) -> Option<Self> {
        let mut groups: Vec<Vec<String>> = Vec::new();
        for w in words(text) {
            if !groups.iter().any(|g| g[0] == w) {
                groups.push(vec![w]);
            }
        }
        groups.truncate(MAX_QUERY_WORDS);
        (!groups.is_empty()).then_some(Self { groups })
    }

    /// Widens every word of five letters or more that the index does not contain to the indexed words within one
    /// edit (insertion, deletion, substitution or transposition) of it.
    pub async fn widen_typos<C: ConnectionTrait>(mut self, db: &C) -> Result<Self, SitesError> {
        for group in &mut self.groups {
            let word = group[0].clone();
            let letters = word.chars().count();
            if letters < TYPO_MIN_LETTERS || term_exists(db, &word).await? {
                continue;
            }
            for term in near_terms(db, &word).await? {
                if strsim::osa_distance(&term, &word) <= 1 && !group.contains(&term) {
                    group.push(term);
                }
            }
        }
        Ok(self)
    }

    /// How many words of the query the name lacks: 0 when every word is in the name (ranked first).
    pub fn tier(&self, document: &str) -> i32 {
        let names: Vec<&str> = name_words(document).collect();
        let missing = self
            .groups
            .iter()
            .filter(|g| !g.iter().any(|alt| names.contains(&alt.as_str())))
            .count();
        i32::try_from(missing).unwrap_or(i32::MAX)
    }

    /// Sites whose document holds every word (or one of its misspellings).
    pub(crate) fn matches(&self, backend: DatabaseBackend) -> SimpleExpr {
        match backend {
            DatabaseBackend::Postgres => Expr::cust_with_values(
                "site.search_vector @@ to_tsquery('simple', $1)",
                [ts_query(&self.groups, false)],
            ),
            _ => Expr::cust_with_values(
                "site.id IN (SELECT rowid FROM site_fts WHERE site_fts MATCH ?)",
                [fts5_query(&self.groups, false)],
            ),
        }
    }

    /// The relevance tier as SQL (same meaning as [`TextQuery::tier`]): one `CASE` per word, name-only match.
    pub(crate) fn tier_expr(&self, backend: DatabaseBackend) -> SimpleExpr {
        let mut sum: SimpleExpr = Expr::val(0);
        for group in &self.groups {
            let one = std::slice::from_ref(group);
            let in_name = match backend {
                DatabaseBackend::Postgres => Expr::cust_with_values(
                    "(CASE WHEN site.search_vector @@ to_tsquery('simple', $1) THEN 0 ELSE 1 END)",
                    [ts_query(one, true)],
                ),
                _ => Expr::cust_with_values(
                    "(CASE WHEN site.id IN (SELECT rowid FROM site_fts WHERE site_fts MATCH ?) \
                     THEN 0 ELSE 1 END)",
                    [fts5_query(one, true)],
                ),
            };
            sum = Expr::expr(sum).add(in_name);
        }
        sum
    }
}

/// `("a" OR "b") AND ("c")`, optionally restricted to the name column. Words hold only letters and digits, and
/// are quoted anyway, so no input can inject FTS5 syntax.
fn fts5_query(groups: &[Vec<String>], name_only: bool) -> String {
    let column = if name_only { "name : " } else { "" };
    groups
        .iter()
        .map(|g| {
            let alts: Vec<String> = g.iter().map(|w| format!("\"{w}\"")).collect();
            format!("{column}({})", alts.join(" OR "))
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// `('a' | 'b') & ('c')`, optionally restricted to weight A (the name).
fn ts_query(groups: &[Vec<String>], name_only: bool) -> String {
    let weight = if name_only { ":A" } else { "" };
    groups
        .iter()
        .map(|g| {
            let alts: Vec<String> = g.iter().map(|w| format!("'{w}'{weight}")).collect();
            format!("({})", alts.join(" | "))
        })
        .collect::<Vec<_>>()
        .join(" & ")
}

async fn term_exists<C: ConnectionTrait>(db: &C, word: &str) -> Result<bool, SitesError> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => "SELECT term FROM search_term WHERE term = $1 LIMIT 1",
        _ => "SELECT term FROM site_fts_vocab WHERE term = ? LIMIT 1",
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [word.into()]))
        .await?;
    Ok(row.is_some())
}

/// Indexed words that may be one edit away from `word`: one more or less letter, and the same first half or the
/// same last half (an edit leaves one of them intact). The exact distance is checked by the caller.
async fn near_terms<C: ConnectionTrait>(db: &C, word: &str) -> Result<Vec<String>, SitesError> {
    let chars: Vec<char> = word.chars().collect();
    let n = chars.len();
    let head_len = n / 2;
    let tail_len = n - head_len - 1;
    let head: String = chars[..head_len].iter().collect();
    let tail: String = chars[n - tail_len..].iter().collect();
    let as_i = |v: usize| i32::try_from(v).unwrap_or(i32::MAX);
    let backend = db.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => {
            "SELECT term FROM search_term WHERE length(term) BETWEEN $1 AND $2 \
             AND (left(term, $3) = $4 OR right(term, $5) = $6)"
        }
        _ => {
            "SELECT term FROM site_fts_vocab WHERE length(term) BETWEEN ? AND ? \
             AND (substr(term, 1, ?) = ? OR substr(term, -?) = ?)"
        }
    };
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [
                as_i(n - 1).into(),
                as_i(n + 1).into(),
                as_i(head_len).into(),
                head.into(),
                as_i(tail_len).into(),
                tail.into(),
            ],
        ))
        .await?;
    rows.iter()
        .map(|r| r.try_get_by_index::<String>(0).map_err(SitesError::from))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn nfd_and_nfc_give_the_same_words() {
        let nfc = "Médiathèque";
        let nfd: String = nfc.nfd().collect();
        assert_ne!(nfc, nfd);
        assert_eq!(words(nfc), words(&nfd));
        assert_eq!(words(nfc), ["mediatheque"]);
    }

    #[test]
    fn saints_hyphens_and_plurals() {
        for t in ["st etienne", "saint etienne", "Saint-Étienne", "ST-ETIENNE"] {
            assert_eq!(words(t), ["saint", "etienne"], "{t}");
        }
        assert_eq!(words("Médiathèques"), words("médiathèque"));
        assert_eq!(words("bureaux locaux jeux"), ["bureau", "local", "jeu"]);
        assert_eq!(words("bus 2024 l'île"), ["bus", "2024", "l", "ile"]);
    }

    #[test]
    fn queries_are_quoted_for_both_engines() {
        let q = TextQuery::parse("Saint-Étienne saint").unwrap();
        assert_eq!(
            fts5_query(&q.groups, false),
            "(\"saint\") AND (\"etienne\")"
        );
        assert_eq!(ts_query(&q.groups, true), "('saint':A) & ('etienne':A)");
        assert!(TextQuery::parse(" %_ ").is_none());
    }

    #[test]
    fn tier_counts_words_missing_from_the_name() {
        let q = TextQuery::parse("mediatheque lyon").unwrap();
        assert_eq!(q.tier("mediatheque jean mace | lyon"), 1);
        assert_eq!(q.tier("mediatheque de lyon | lyon"), 0);
        assert_eq!(q.tier("mairie | mediatheque lyon"), 2);
    }
}
