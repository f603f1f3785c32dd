//! Mappings as data: how a hub's own file layout becomes rows of the national standard.
//!
//! A mapping is a TOML file (format in `docs/MAPPINGS.md`) parsed once into a typed [`Mapping`]. It declares its
//! target version of the standard (v0.1.1 or v1.0.2) and, for each field of that version, where the value comes
//! from: a column, the first of several columns, a template composed of several columns, a pattern extracted from
//! a column, opening hours composed from one column per weekday, a constant, or a lookup in the communes table;
//! then named transforms, value translations into the standard's vocabularies, and a default. The output is a
//! [`RawRow`] that [`crate::standard::parse::parse_row`] validates, so the standard has one validator whatever the
//! layout. Values that no translation covers are kept raw and counted per column and value in a
//! [`MappingReport`], so that a hub can see what to add to its mapping.

pub mod communes;
mod spec;
mod transform;

use crate::SitesError;
use crate::model::StandardVersion;
use crate::read::SourceRow;
use crate::standard::parse::{RawRow, RowIssue, known_columns};
use crate::standard::vocabulary::{lookup, multi_valued_columns};
use maillage_core::text::fold;
use regex::Regex;
use spec::{FieldSpec, MappingSpec};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use transform::Transform;

/// The built-in mappings: (name, TOML text).
pub const BUILT_IN: [(&str, &str); 3] = [
    (
        "standard-v0.1.1",
        include_str!("../../mappings/standard-v0.1.1.toml"),
    ),
    (
        "standard-v1.0.2",
        include_str!("../../mappings/standard-v1.0.2.toml"),
    ),
    (
        "aidants-connect-carto-2020",
        include_str!("../../mappings/aidants-connect-carto-2020.toml"),
    ),
];

/// A checked, compiled mapping.
#[derive(Debug, Clone)]
pub struct Mapping {
    name: String,
    description: String,
    version: StandardVersion,
    passthrough: bool,
    drop: Vec<String>,
    fields: Vec<(String, Rule)>,
}

/// One field's rule, compiled.
#[derive(Debug, Clone)]
struct Rule {
    source: Source,
    split: Option<Vec<char>>,
    transforms: Vec<Transform>,
    /// Folded source value → standard value(s) (an empty list drops the value).
    translate: HashMap<String, Vec<String>>,
    only_translated: bool,
    default: Option<String>,
    or: Vec<Rule>,
}

#[derive(Debug, Clone)]
enum Source {
    Column(String),
    Columns(Vec<String>),
    Compose(Vec<Piece>),
    Extract {
        column: String,
        pattern: Regex,
        group: usize,
    },
    Value(String),
    Hours(Vec<(&'static str, String)>),
    /// The INSEE code from the row's `code_postal` and `commune`, in the communes table.
    InseeLookup,
    /// No source of its own: only `default` (or `or`) gives a value.
    Nothing,
}

#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Column(String),
}

/// What a mapping did to the rows it read: what to add to the mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MappingReport {
    /// (source column, raw value) → rows where no translation or vocabulary covered the value (kept raw).
    pub untranslated: BTreeMap<(String, String), u64>,
}

impl MappingReport {
    /// Adds another report's counts to this one.
    pub fn merge(&mut self, other: MappingReport) {
        for (key, n) in other.untranslated {
            *self.untranslated.entry(key).or_default() += n;
        }
    }
}

/// One row in the layout of the standard, with what the mapping noticed on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedRow {
    /// Standard column → text, for [`crate::standard::parse::parse_row`].
    pub row: RawRow,
    /// Values the mapping could not use (a date in no declared format, unreadable opening hours…).
    pub notes: Vec<RowIssue>,
    /// This row's untranslated values.
    pub report: MappingReport,
}

impl Mapping {
    /// Parses and checks a mapping's TOML text; `name` is used when the file does not name itself.
    pub fn parse(name: &str, text: &str) -> Result<Self, SitesError> {
        let bad = |msg: String| SitesError::InvalidFile(format!("mapping {name}: {msg}"));
        let spec: MappingSpec = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let version = StandardVersion::parse(&spec.standard).ok_or_else(|| {
            bad(format!(
                "unknown standard {:?}: use \"0.1.1\" or \"1.0.2\"",
                spec.standard
            ))
        })?;
        let known = known_columns(version);
        let mut fields = Vec::with_capacity(spec.fields.len());
        for (field, rule) in spec.fields {
            if !known.contains(&field.as_str()) {
                return Err(bad(format!(
                    "{field:?} is not a field of the standard {version}; its fields: {}",
                    known.join(", ")
                )));
            }
            let rule = compile(&field, rule).map_err(|e| bad(format!("fields.{field}: {e}")))?;
            fields.push((field, rule));
        }
        // Lookups read other fields' results: they run last.
        fields.sort_by_key(|(_, rule)| matches!(rule.source, Source::InseeLookup));
        Ok(Self {
            name: spec.name.unwrap_or_else(|| name.to_owned()),
            description: spec.description.unwrap_or_default(),
            version,
            passthrough: spec.passthrough,
            drop: spec.drop,
            fields,
        })
    }

    /// A built-in mapping by name.
    pub fn built_in(name: &str) -> Option<Self> {
        BUILT_IN
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(n, text)| Self::parse(n, text).ok())
    }

    /// The identity mapping of a version of the standard.
    pub fn standard(version: StandardVersion) -> Self {
        let name = match version {
            StandardVersion::V0_1 => "standard-v0.1.1",
            StandardVersion::V1_0 => "standard-v1.0.2",
        };
        Self::built_in(name).unwrap_or(Self {
            name: name.to_owned(),
            description: String::new(),
            version,
            passthrough: true,
            drop: Vec::new(),
            fields: Vec::new(),
        })
    }

    /// A built-in name, or else the path of a TOML file.
    pub fn load(name_or_path: &str) -> Result<Self, SitesError> {
        if let Some(mapping) = Self::built_in(name_or_path) {
            return Ok(mapping);
        }
        let path = Path::new(name_or_path);
        if !path.exists() {
            return Err(SitesError::InvalidFile(format!(
                "no built-in mapping named {name_or_path:?} and no such file; built-in mappings: {}",
                BUILT_IN.map(|(n, _)| n).join(", ")
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|source| SitesError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(name_or_path);
        Self::parse(stem, &text)
    }

    /// The mapping's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the mapping is for.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The version of the standard it produces.
    pub fn version(&self) -> StandardVersion {
        self.version
    }

    /// Whether it is an identity mapping of the standard (columns named like the standard's fields).
    pub fn is_passthrough(&self) -> bool {
        self.passthrough
    }

    /// The columns a file must have for the mapping to fill the standard's required fields, that `columns` lacks.
    pub fn missing_columns(&self, columns: &[String]) -> Vec<String> {
        let mut required = vec![
            "id",
            "pivot",
            "nom",
            "commune",
            "code_postal",
            "adresse",
            "date_maj",
        ];
        if self.version == StandardVersion::V0_1 {
            required.push("services");
        }
        let has = |c: &str| columns.iter().any(|h| h == c);
        let mut missing = Vec::new();
        for field in required {
            match self.rule(field) {
                Some(rule) => {
                    // Only a single plain column without fallback is certainly missing; other sources may give
                    // a value from what is there.
                    if let Source::Column(c) = &rule.source
                        && rule.or.is_empty()
                        && rule.default.is_none()
                        && !has(c)
                    {
                        missing.push(c.clone());
                    }
                }
                None if self.passthrough && !has(field) => missing.push(field.to_owned()),
                None if !self.passthrough => missing.push(format!("(no rule for {field})")),
                None => {}
            }
        }
        missing
    }

    /// Columns of a file that the mapping neither reads nor drops.
    pub fn unused_columns(&self, columns: &[String]) -> Vec<String> {
        let known = known_columns(self.version);
        columns
            .iter()
            .filter(|c| !c.is_empty())
            .filter(|c| !self.drop.contains(c))
            .filter(|c| !(self.passthrough && known.contains(&c.as_str())))
            .filter(|c| !self.fields.iter().any(|(_, r)| r.reads(c)))
            .cloned()
            .collect()
    }

    fn rule(&self, field: &str) -> Option<&Rule> {
        self.fields.iter().find(|(f, _)| f == field).map(|(_, r)| r)
    }

    /// Applies the mapping to one source row.
    pub fn apply(&self, row: &SourceRow) -> MappedRow {
        let cells: HashMap<&str, &str> = row
            .columns
            .iter()
            .filter(|(c, _)| !self.drop.contains(c))
            .map(|(c, v)| (c.as_str(), v.trim()))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let mut out = RawRow::new();
        let mut notes = Vec::new();
        // (column, value) → whether some field accepted it.
        let mut seen: Vec<(String, String, bool)> = Vec::new();
        let multi = multi_valued_columns(self.version);
        if self.passthrough {
            for (&column, &value) in &cells {
                if self.rule(column).is_some() || !known_columns(self.version).contains(&column) {
                    continue;
                }
                if multi.iter().any(|(c, _)| *c == column) {
                    for part in crate::standard::split_multi(self.version, value) {
                        let known = lookup(self.version, column, part).is_some_and(|l| l.known);
                        seen.push((column.to_owned(), part.to_owned(), known));
                    }
                }
                out.insert(column.to_owned(), value.to_owned());
            }
        }
        for (field, rule) in &self.fields {
            let is_multi = multi.iter().any(|(c, _)| c == field);
            let mut ctx = Context {
                cells: &cells,
                out: &out,
                version: self.version,
                field,
                is_multi,
                notes: &mut notes,
                seen: &mut seen,
            };
            if let Some(value) = rule.eval(&mut ctx) {
                out.insert(field.clone(), value);
            }
        }
        let mut report = MappingReport::default();
        for (i, (column, value, _)) in seen.iter().enumerate() {
            let first = !seen[..i].iter().any(|(c, v, _)| c == column && v == value);
            let accepted = seen
                .iter()
                .any(|(c, v, ok)| *ok && c == column && v == value);
            if first && !accepted {
                *report
                    .untranslated
                    .entry((column.clone(), value.clone()))
                    .or_default() += 1;
            }
        }
        MappedRow {
            row: out,
            notes,
            report,
        }
    }
}

struct Context<'a> {
    cells: &'a HashMap<&'a str, &'a str>,
    out: &'a RawRow,
    version: StandardVersion,
    field: &'a str,
    is_multi: bool,
    notes: &'a mut Vec<RowIssue>,
    seen: &'a mut Vec<(String, String, bool)>,
}

impl Rule {
    fn reads(&self, column: &str) -> bool {
        let own = match &self.source {
            Source::Column(c) | Source::Extract { column: c, .. } => c == column,
            Source::Columns(cs) => cs.iter().any(|c| c == column),
            Source::Compose(pieces) => pieces
                .iter()
                .any(|p| matches!(p, Piece::Column(c) if c == column)),
            Source::Hours(days) => days.iter().any(|(_, c)| c == column),
            Source::Value(_) | Source::InseeLookup | Source::Nothing => false,
        };
        own || self.or.iter().any(|r| r.reads(column))
    }

    /// The source column a value came from, for the untranslated-values report.
    fn label(&self) -> String {
        match &self.source {
            Source::Column(c) | Source::Extract { column: c, .. } => c.clone(),
            Source::Columns(cs) => cs.join("+"),
            Source::Compose(pieces) => pieces
                .iter()
                .filter_map(|p| match p {
                    Piece::Column(c) => Some(c.as_str()),
                    Piece::Text(_) => None,
                })
                .collect::<Vec<_>>()
                .join("+"),
            Source::Hours(days) => days
                .iter()
                .map(|(_, c)| c.as_str())
                .collect::<Vec<_>>()
                .join("+"),
            Source::Value(_) | Source::InseeLookup | Source::Nothing => "(mapping)".to_owned(),
        }
    }

    fn eval(&self, ctx: &mut Context<'_>) -> Option<String> {
        if let Some(value) = self.eval_own(ctx) {
            return Some(value);
        }
        for alternative in &self.or {
            if let Some(value) = alternative.eval(ctx) {
                return Some(value);
            }
        }
        self.default.clone()
    }

    fn eval_own(&self, ctx: &mut Context<'_>) -> Option<String> {
        let raw: String = match &self.source {
            Source::Nothing => return None,
            Source::Value(v) => v.clone(),
            Source::Column(c) => (*ctx.cells.get(c.as_str())?).to_owned(),
            Source::Columns(cs) => {
                let values: Vec<&str> = cs
                    .iter()
                    .filter_map(|c| ctx.cells.get(c.as_str()).copied())
                    .collect();
                if values.is_empty() {
                    return None;
                }
                if ctx.is_multi {
                    // Several columns of one multi-valued field: all their values, split below.
                    values.join(&self.split_chars(ctx.version)[0].to_string())
                } else {
                    values[0].to_owned()
                }
            }
            Source::Compose(pieces) => {
                let mut text = String::new();
                let mut any = false;
                for piece in pieces {
                    match piece {
                        Piece::Text(t) => text.push_str(t),
                        Piece::Column(c) => {
                            if let Some(v) = ctx.cells.get(c.as_str()) {
                                any = true;
                                text.push_str(v);
                            }
                        }
                    }
                }
                if !any {
                    return None;
                }
                transform::collapse_spaces(&text)
            }
            Source::Extract {
                column,
                pattern,
                group,
            } => {
                let text = ctx.cells.get(column.as_str())?;
                let caps = pattern.captures(text)?;
                caps.get(*group)?.as_str().trim().to_owned()
            }
            Source::Hours(days) => {
                let mut day_texts = Vec::new();
                for (day, column) in days {
                    if let Some(text) = ctx.cells.get(column.as_str()) {
                        day_texts.push((*day, *text));
                    }
                }
                if day_texts.is_empty() {
                    return None;
                }
                match transform::compose_hours(&day_texts) {
                    Ok(hours) => hours?,
                    Err(bad) => {
                        ctx.notes.push(RowIssue {
                            field: ctx.field.to_owned(),
                            reason: format!(
                                "opening hours {bad:?} ({}) are not in a form the mapping reads; dropped",
                                self.label()
                            ),
                        });
                        return None;
                    }
                }
            }
            Source::InseeLookup => {
                let postal = ctx.out.get("code_postal")?;
                let commune = ctx.out.get("commune");
                communes::insee_code(postal, commune.map(String::as_str))?.to_owned()
            }
        };
        let raw = raw.trim();
        if raw.is_empty() {
            return None;
        }
        let label = self.label();
        let values: Vec<String> = if ctx.is_multi || self.split.is_some() {
            raw.split(self.split_chars(ctx.version).as_slice())
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        } else {
            vec![raw.to_owned()]
        };
        let mut result: Vec<String> = Vec::new();
        for value in values {
            let value = match self.transform(ctx, &value) {
                Some(v) => v,
                None => continue,
            };
            let translated = self.translate.get(&match_key(&value));
            let (accepted, outputs) = match translated {
                Some(targets) => (true, targets.clone()),
                None if self.only_translated => (false, Vec::new()),
                None if ctx.is_multi => (
                    lookup(ctx.version, ctx.field, &value).is_some_and(|l| l.known),
                    vec![value.clone()],
                ),
                // A single-valued field with a translation table expects one of its values.
                None => (self.translate.is_empty(), vec![value.clone()]),
            };
            if ctx.is_multi || !self.translate.is_empty() {
                ctx.seen.push((label.clone(), value, accepted));
            }
            for output in outputs {
                if !output.is_empty() && !result.contains(&output) {
                    result.push(output);
                }
            }
        }
        if result.is_empty() {
            return None;
        }
        let separator = if ctx.is_multi {
            ctx.version.separator().to_string()
        } else {
            // A split single-valued field (several phone numbers…): the first value.
            result.truncate(1);
            String::new()
        };
        Some(result.join(&separator))
    }

    fn transform(&self, ctx: &mut Context<'_>, value: &str) -> Option<String> {
        let mut value = value.to_owned();
        for t in &self.transforms {
            match t.apply(&value) {
                Ok(v) => value = v,
                Err(reason) => {
                    ctx.notes.push(RowIssue {
                        field: ctx.field.to_owned(),
                        reason: format!(
                            "{} ({}): {reason}; dropped",
                            transform::echo(&value),
                            self.label()
                        ),
                    });
                    return None;
                }
            }
        }
        (!value.trim().is_empty()).then_some(value)
    }

    fn split_chars(&self, version: StandardVersion) -> Vec<char> {
        match &self.split {
            Some(chars) => chars.clone(),
            None => vec![version.separator()],
        }
    }
}

fn match_key(s: &str) -> String {
    fold(s).split_whitespace().collect::<Vec<_>>().join(" ")
}

fn compile(field: &str, spec: FieldSpec) -> Result<Rule, String> {
    let mut sources = Vec::new();
    if let Some(c) = spec.column {
        sources.push(Source::Column(c));
    }
    if let Some(cs) = spec.columns {
        if cs.is_empty() {
            return Err("columns is empty".to_owned());
        }
        sources.push(Source::Columns(cs));
    }
    if let Some(template) = spec.compose {
        sources.push(Source::Compose(parse_template(&template)?));
    }
    if let Some(extract) = spec.extract {
        let pattern = Regex::new(&extract.pattern)
            .map_err(|e| format!("extract.pattern is not a valid regex: {e}"))?;
        let group = extract
            .group
            .unwrap_or(usize::from(pattern.captures_len() > 1));
        if group >= pattern.captures_len() {
            return Err(format!(
                "extract.group {group} but the pattern has {} group(s)",
                pattern.captures_len() - 1
            ));
        }
        sources.push(Source::Extract {
            column: extract.column,
            pattern,
            group,
        });
    }
    if let Some(v) = spec.value {
        sources.push(Source::Value(v));
    }
    if let Some(days) = spec.hours {
        let mut compiled = Vec::new();
        for (day, column) in days {
            let code = transform::day_code(&day).ok_or_else(|| {
                format!("hours: unknown day {day:?}; use mo, tu, we, th, fr, sa, su")
            })?;
            compiled.push((code, column));
        }
        compiled.sort_by_key(|(d, _)| transform::DAYS.iter().position(|x| x == d));
        sources.push(Source::Hours(compiled));
    }
    if let Some(l) = spec.lookup {
        if l != "insee" || field != "code_insee" {
            return Err(format!(
                "lookup = {l:?}: the only lookup is \"insee\", for code_insee"
            ));
        }
        sources.push(Source::InseeLookup);
    }
    if sources.len() > 1 {
        return Err(
            "give one of column, columns, compose, extract, value, hours, lookup (use `or` for fallbacks)"
                .to_owned(),
        );
    }
    let source = sources.pop().unwrap_or(Source::Nothing);
    if matches!(source, Source::Nothing) && spec.default.is_none() && spec.or.is_empty() {
        return Err(
            "no source: give column, columns, compose, extract, value, hours, lookup or default"
                .to_owned(),
        );
    }
    let transforms = spec
        .transforms
        .iter()
        .map(|t| Transform::parse(t))
        .collect::<Result<Vec<_>, _>>()?;
    let translate = spec
        .translate
        .into_iter()
        .map(|(k, v)| (match_key(&k), v.into_vec()))
        .collect();
    let or = spec
        .or
        .into_iter()
        .map(|s| compile(field, s))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Rule {
        source,
        split: spec.split.map(|s| s.chars().collect()),
        transforms,
        translate,
        only_translated: spec.only_translated,
        default: spec.default,
        or,
    })
}

/// `"{adresse_numero} {adresse_rue}"` → pieces; `{{` and `}}` are literal braces.
fn parse_template(template: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => name.push(c),
                        None => return Err(format!("compose: unclosed {{ in {template:?}")),
                    }
                }
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Column(name.trim().to_owned()));
            }
            '}' => return Err(format!("compose: unmatched }} in {template:?}")),
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    if !pieces.iter().any(|p| matches!(p, Piece::Column(_))) {
        return Err(format!("compose: {template:?} names no {{column}}"));
    }
    Ok(pieces)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
