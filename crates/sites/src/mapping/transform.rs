//! Named transforms of a mapping, and opening hours composed from one column per weekday.

use chrono::NaiveDate;

/// OpenStreetMap weekday codes, in week order.
pub(super) const DAYS: [&str; 7] = ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"];

/// A named transform, applied to each value in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Transform {
    Trim,
    Upper,
    Lower,
    Title,
    CollapseSpaces,
    Digits,
    PhoneFr,
    Slug,
    /// Parse with one of these `strftime` formats, write as `YYYY-MM-DD`.
    Date(Vec<String>),
}

impl Transform {
    pub(super) fn parse(name: &str) -> Result<Self, String> {
        if let Some(formats) = name.strip_prefix("date:") {
            let formats: Vec<String> = formats
                .split('|')
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect();
            if formats.is_empty() {
                return Err("date: needs at least one format, e.g. \"date:%d/%m/%Y\"".to_owned());
            }
            return Ok(Self::Date(formats));
        }
        Ok(match name {
            "trim" => Self::Trim,
            "upper" => Self::Upper,
            "lower" => Self::Lower,
            "title" => Self::Title,
            "collapse_spaces" => Self::CollapseSpaces,
            "digits" => Self::Digits,
            "phone_fr" => Self::PhoneFr,
            "slug" => Self::Slug,
            other => {
                return Err(format!(
                    "unknown transform {other:?}; transforms: trim, upper, lower, title, collapse_spaces, digits, \
                     phone_fr, slug, date:FORMAT[|FORMAT…]"
                ));
            }
        })
    }

    /// The transformed value, or why the value cannot be used.
    pub(super) fn apply(&self, value: &str) -> Result<String, String> {
        Ok(match self {
            Self::Trim => value.trim().to_owned(),
            Self::Upper => value.to_uppercase(),
            Self::Lower => value.to_lowercase(),
            Self::Title => title_case(value),
            Self::CollapseSpaces => collapse_spaces(value),
            Self::Digits => value.chars().filter(char::is_ascii_digit).collect(),
            Self::PhoneFr => crate::standard::parse::normalise_phone(value)
                .ok_or_else(|| "not a French phone number".to_owned())?,
            Self::Slug => slug(value),
            Self::Date(formats) => formats
                .iter()
                .find_map(|f| NaiveDate::parse_from_str(value.trim(), f).ok())
                .map(|d| d.format("%Y-%m-%d").to_string())
                .ok_or_else(|| format!("not a date in the form {}", formats.join(" or ")))?,
        })
    }
}

pub(super) fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// "SAINT-GENIS-LAVAL" → "Saint-Genis-Laval": the first letter after a space, `-` or `'` is upper case.
fn title_case(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut start = true;
    for c in value.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
        start = c.is_whitespace() || matches!(c, '-' | '\'' | '’');
    }
    out
}

/// Lower-case ASCII letters and digits separated by `-`: a stable identifier made of a row's values.
fn slug(value: &str) -> String {
    let folded = maillage_core::text::fold(value);
    let mut out = String::new();
    for c in folded.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// A weekday's OSM code from `mo`…`su`, English or French names.
pub(super) fn day_code(day: &str) -> Option<&'static str> {
    let d = maillage_core::text::fold(day.trim());
    let code = match d.as_str() {
        "mo" | "monday" | "lundi" => "Mo",
        "tu" | "tuesday" | "mardi" => "Tu",
        "we" | "wednesday" | "mercredi" => "We",
        "th" | "thursday" | "jeudi" => "Th",
        "fr" | "friday" | "vendredi" => "Fr",
        "sa" | "saturday" | "samedi" => "Sa",
        "su" | "sunday" | "dimanche" => "Su",
        _ => return None,
    };
    Some(code)
}

/// Composes `opening_hours` from one text per weekday such as "9h - 12h / 14h - 18h".
///
/// `Ok(None)` when every day is closed; `Err(text)` with the first day text that is not a list of intervals.
pub(super) fn compose_hours(days: &[(&str, &str)]) -> Result<Option<String>, String> {
    let mut rules: Vec<String> = Vec::new();
    for (day, text) in days {
        let lower = text.trim().to_lowercase();
        if lower.is_empty() || lower == "-" || lower.contains("ferm") || lower == "closed" {
            continue;
        }
        let mut intervals = Vec::new();
        for part in lower
            .replace(" et ", "/")
            .split(['/', ',', ';', '+'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let normalised = part.replace(['–', '—'], "-").replace(" à ", "-");
            let (from, to) = normalised
                .split_once('-')
                .ok_or_else(|| (*text).to_owned())?;
            let from = time(from).ok_or_else(|| (*text).to_owned())?;
            let to = time(to).ok_or_else(|| (*text).to_owned())?;
            intervals.push(format!("{from}-{to}"));
        }
        if !intervals.is_empty() {
            rules.push(format!("{day} {}", intervals.join(",")));
        }
    }
    Ok((!rules.is_empty()).then(|| rules.join("; ")))
}

/// "9h", "9h30", "9 h 30", "09:30", "9" → "09:00" / "09:30".
fn time(raw: &str) -> Option<String> {
    let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    let compact = compact.replace(['h', 'H', '.'], ":");
    let (h, m) = match compact.split_once(':') {
        Some((h, m)) => (h, if m.is_empty() { "0" } else { m }),
        None => (compact.as_str(), "0"),
    };
    let h: u32 = h.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    (h <= 24 && m < 60 && (h < 24 || m == 0)).then(|| format!("{h:02}:{m:02}"))
}

/// A value quoted for a note, truncated.
pub(super) fn echo(raw: &str) -> String {
    const MAX: usize = 60;
    if raw.chars().count() <= MAX {
        format!("{raw:?}")
    } else {
        let head: String = raw.chars().take(MAX - 1).collect();
        format!("{:?}", format!("{head}…"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hours_from_weekday_columns() {
        let hours = compose_hours(&[
            ("Mo", "9h - 12h / 14h - 18h"),
            ("Tu", "Fermé"),
            ("We", "9h30-12h et 13h30 à 17h"),
            ("Sa", "10:00-12:00"),
        ])
        .unwrap();
        assert_eq!(
            hours.as_deref(),
            Some("Mo 09:00-12:00,14:00-18:00; We 09:30-12:00,13:30-17:00; Sa 10:00-12:00")
        );
        assert!(crate::hours::parse_hours(hours.as_deref().unwrap()).is_ok());
        assert_eq!(compose_hours(&[("Mo", "fermé")]).unwrap(), None);
        assert_eq!(
            compose_hours(&[("Mo", "le matin")]),
            Err("le matin".to_owned())
        );
    }

    #[test]
    fn transforms() {
        let t = |name: &str, v: &str| Transform::parse(name).unwrap().apply(v);
        assert_eq!(
            t("title", "SAINT-GENIS-LAVAL").unwrap(),
            "Saint-Genis-Laval"
        );
        assert_eq!(t("phone_fr", "04 78 86 82 30").unwrap(), "+33478868230");
        assert!(t("phone_fr", "12").is_err());
        assert_eq!(
            t("date:%d/%m/%Y|%Y-%m-%d", "02/06/2022").unwrap(),
            "2022-06-02"
        );
        assert!(t("date:%d/%m/%Y", "2022-06-02").is_err());
        assert_eq!(
            t("slug", "Lieu 1 — Médiathèque").unwrap(),
            "lieu-1-mediatheque"
        );
        assert_eq!(t("digits", "69 230").unwrap(), "69230");
        assert!(Transform::parse("reverse").is_err());
    }
}
