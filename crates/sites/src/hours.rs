//! Opening hours (`horaires`), in OpenStreetMap `opening_hours` syntax, parsed and evaluated in a site's local time.
//!
//! Real files contain hand-typed values (`9h00-12h00`, `09:00–12:00`), so parsing tries the raw value first and
//! then one conservative cleanup; an unparsable value is an ordinary outcome, never a failure of the import.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use opening_hours::localization::{Country, TzLocation};
use opening_hours::{Context, OpeningHours};

/// Parsed opening hours of a site.
#[derive(Debug, Clone)]
pub struct Hours {
    expression: OpeningHours,
    parsed: String,
    cleaned: bool,
}

/// Why a `horaires` value could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoursError {
    /// Nothing but spaces: callers usually treat this as "no opening hours given".
    #[error("opening hours are empty")]
    Empty,
    /// The value is not OpenStreetMap `opening_hours` syntax, even after cleanup.
    #[error("not valid opening_hours syntax{near}: {value:?}")]
    Invalid {
        /// The value as given, truncated so that a report line stays short.
        value: String,
        /// Where the parser stopped, e.g. ` (near character 7)`; empty when unknown.
        near: String,
    },
}

/// Parses a `horaires` value, with a conservative cleanup when the raw text is refused.
///
/// The cleanup collapses whitespace, turns unicode dashes into `-` and French times (`9h00`, `14h`) into `09:00`,
/// `14:00`; [`Hours::parsed`] tells which string was finally accepted, so a caller can report or store it.
pub fn parse_hours(raw: &str) -> Result<Hours, HoursError> {
    if raw.trim().is_empty() {
        return Err(HoursError::Empty);
    }
    let first_error = match raw.parse::<OpeningHours>() {
        Ok(expression) => {
            return Ok(Hours {
                expression,
                parsed: raw.to_owned(),
                cleaned: false,
            });
        }
        Err(err) => err,
    };
    let cleaned = cleanup(raw);
    if cleaned != raw
        && let Ok(expression) = cleaned.parse::<OpeningHours>()
    {
        return Ok(Hours {
            expression,
            parsed: cleaned,
            cleaned: true,
        });
    }
    Err(HoursError::Invalid {
        value: truncate(raw, 80),
        near: error_position(&first_error.to_string())
            .map(|pos| format!(" (near character {pos})"))
            .unwrap_or_default(),
    })
}

impl Hours {
    /// The string the parser accepted: the raw value, or its cleaned-up form when [`Hours::was_cleaned`].
    pub fn parsed(&self) -> &str {
        &self.parsed
    }

    /// Whether the raw value needed cleanup to parse (worth reporting to the source, and storing the clean form).
    pub fn was_cleaned(&self) -> bool {
        self.cleaned
    }

    /// Whether the site is open at `at`, with the rules read in the site's local time `tz`.
    ///
    /// `PH` (public holiday) rules use the French national public holidays embedded in the `opening-hours` crate
    /// (no network, no extra feature). That database has no regional days (Alsace-Moselle, the overseas
    /// departments' abolition days) and no French school holidays, so `SH` rules never match. "Unknown" states
    /// (`unknown`, comments only) count as closed: this answers "can I go there now".
    pub fn is_open_at(&self, at: DateTime<Utc>, tz: Tz) -> bool {
        let context = Context::default()
            .with_holidays(Country::FR.holidays())
            .with_locale(TzLocation::new(tz));
        self.expression
            .clone()
            .with_context(context)
            .is_open(at.with_timezone(&tz))
    }
}

/// Minutes in a week: opening intervals are minutes of the week, Monday 00:00 local time being 0.
pub const MINUTES_PER_WEEK: i32 = 7 * 24 * 60;

/// Version of the week form ([`Hours::week`]): raise it when the parser or this conversion improves, and the next
/// start recomputes every site's stored intervals (`search::ensure_current`).
pub const WEEK_FORM_VERSION: i32 = 1;

/// The opening hours of a site reduced to what a database can look up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Week {
    /// The same every week: open during these `[start, end)` minutes of the week, in local time.
    Weekly(Vec<(i32, i32)>),
    /// Depends on the date (public or school holidays, months, weeks, years, Easter…): evaluated per request.
    Dated,
}

impl Week {
    /// The stored form: a JSON array of `[start, end]` pairs, or `dated`.
    pub fn encode(&self) -> String {
        match self {
            Self::Weekly(intervals) => {
                let pairs: Vec<String> = intervals
                    .iter()
                    .map(|(s, e)| format!("[{s},{e}]"))
                    .collect();
                format!("[{}]", pairs.join(","))
            }
            Self::Dated => "dated".to_owned(),
        }
    }
}

/// Mondays of ordinary weeks (no French public holiday, in four seasons): hours that give the same intervals on
/// all of them, and do not mention holidays, are weekly.
const REFERENCE_MONDAYS: [(i32, u32, u32); 4] =
    [(2025, 1, 13), (2025, 3, 17), (2025, 6, 16), (2025, 10, 6)];

impl Hours {
    /// The week form of these hours: open intervals in minutes of the week (local wall-clock time, so the site's
    /// time zone and daylight saving time are applied when a request asks), or [`Week::Dated`].
    pub fn week(&self) -> Week {
        if ["PH", "SH", "easter"]
            .iter()
            .any(|t| self.parsed.contains(t))
        {
            return Week::Dated;
        }
        let context = Context::default().with_holidays(Country::FR.holidays());
        let expression = self.expression.clone().with_context(context);
        let mut first: Option<Vec<(i32, i32)>> = None;
        for (y, m, d) in REFERENCE_MONDAYS {
            let Some(monday) =
                chrono::NaiveDate::from_ymd_opt(y, m, d).and_then(|d| d.and_hms_opt(0, 0, 0))
            else {
                return Week::Dated;
            };
            let end = monday + chrono::Duration::days(7);
            let mut intervals: Vec<(i32, i32)> = Vec::new();
            for range in expression.iter_range(monday, end) {
                if range.kind != opening_hours::RuleKind::Open {
                    continue;
                }
                let minute = |t: chrono::NaiveDateTime| {
                    i32::try_from((t - monday).num_minutes()).unwrap_or(MINUTES_PER_WEEK)
                };
                let (s, e) = (minute(range.range.start), minute(range.range.end));
                match intervals.last_mut() {
                    Some(last) if last.1 == s => last.1 = e,
                    _ if e > s => intervals.push((s, e)),
                    _ => {}
                }
            }
            match &first {
                None => first = Some(intervals),
                Some(f) if *f != intervals => return Week::Dated,
                Some(_) => {}
            }
        }
        Week::Weekly(first.unwrap_or_default())
    }
}

/// The minute of the week (Monday 00:00 = 0) of `at` in the wall-clock time of `tz`.
pub fn minute_of_week(at: DateTime<Utc>, tz: Tz) -> i32 {
    use chrono::{Datelike, Timelike};
    let local = at.with_timezone(&tz);
    let day = i32::try_from(local.weekday().num_days_from_monday()).unwrap_or_default();
    let hour = i32::try_from(local.hour()).unwrap_or_default();
    let minute = i32::try_from(local.minute()).unwrap_or_default();
    day * 1440 + hour * 60 + minute
}

/// The time zones of [`timezone_for_department`] other than Paris, with their department.
pub const OVERSEAS_ZONES: [(&str, Tz); 5] = [
    ("971", Tz::America__Guadeloupe),
    ("972", Tz::America__Martinique),
    ("973", Tz::America__Cayenne),
    ("974", Tz::Indian__Reunion),
    ("976", Tz::Indian__Mayotte),
];

/// The time zone of a French department, for reading its sites' opening hours.
///
/// Mayotte (976) and Réunion (974) are in the Indian Ocean, 971–973 in the Americas; everything else is on Paris
/// time. Codes are compared after trimming, so `" 974"` works; unknown codes fall back to Paris.
pub fn timezone_for_department(code: &str) -> Tz {
    match code.trim() {
        "971" => Tz::America__Guadeloupe,
        "972" => Tz::America__Martinique,
        "973" => Tz::America__Cayenne,
        "974" => Tz::Indian__Reunion,
        "976" => Tz::Indian__Mayotte,
        _ => Tz::Europe__Paris,
    }
}

/// The conservative rewrite tried when a raw value is refused: only changes whose meaning is unambiguous.
fn cleanup(raw: &str) -> String {
    let dashes: String = raw
        .chars()
        .map(|c| match c {
            '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
            c => c,
        })
        .collect();
    let spaced = dashes.split_whitespace().collect::<Vec<_>>().join(" ");
    french_times(&spaced)
}

/// Rewrites `9h00` as `09:00` and `14h` as `14:00`, leaving anything else (`Th`, `PH`, `24h/24`) untouched.
fn french_times(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let starts_number =
            chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_alphanumeric());
        if !starts_number {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let hour_end = digits_end(&chars, i);
        let hour: String = chars[i..hour_end].iter().collect();
        if hour_end - i <= 2 && matches!(chars.get(hour_end), Some('h' | 'H')) {
            let minutes_start = hour_end + 1;
            let minutes_end = digits_end(&chars, minutes_start);
            let ends_word = |at: usize| chars.get(at).is_none_or(|c| !c.is_alphanumeric());
            if minutes_end - minutes_start == 2 && ends_word(minutes_end) {
                let minutes: String = chars[minutes_start..minutes_end].iter().collect();
                out.push_str(&format!("{hour:0>2}:{minutes}"));
                i = minutes_end;
                continue;
            }
            if minutes_end == minutes_start
                && ends_word(minutes_start)
                && chars.get(minutes_start) != Some(&'/')
            {
                out.push_str(&format!("{hour:0>2}:00"));
                i = minutes_start;
                continue;
            }
        }
        out.push_str(&hour);
        i = hour_end;
    }
    out
}

fn digits_end(chars: &[char], start: usize) -> usize {
    let mut end = start;
    while chars.get(end).is_some_and(char::is_ascii_digit) {
        end += 1;
    }
    end
}

/// The parser's error position, read from its ` --> line:column` header (the message itself spans many lines).
fn error_position(message: &str) -> Option<usize> {
    let (_, location) = message.split_once("-->")?;
    let location = location.lines().next()?.trim();
    let (_, column) = location.split_once(':')?;
    column.trim().parse().ok()
}

fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max_chars - 1).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn paris(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Tz::Europe__Paris
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn open_on_tuesday_morning_closed_at_lunch() {
        let hours = parse_hours("Mo-Fr 09:00-12:00,14:00-17:00; Sa 09:00-12:00").unwrap();
        assert!(!hours.was_cleaned());
        // 2024-03-12 is a Tuesday.
        assert!(hours.is_open_at(paris(2024, 3, 12, 10, 0), Tz::Europe__Paris));
        assert!(!hours.is_open_at(paris(2024, 3, 12, 13, 0), Tz::Europe__Paris));
        assert!(hours.is_open_at(paris(2024, 3, 16, 11, 0), Tz::Europe__Paris));
        assert!(!hours.is_open_at(paris(2024, 3, 17, 11, 0), Tz::Europe__Paris));
    }

    #[test]
    fn evaluates_in_local_time() {
        let hours = parse_hours("Mo-Fr 09:00-12:00").unwrap();
        // 10:00 in Paris on a summer Tuesday is 08:00 UTC and 12:00 in Réunion (UTC+4): closed there.
        let at = paris(2024, 7, 2, 10, 0);
        assert!(hours.is_open_at(at, Tz::Europe__Paris));
        assert!(!hours.is_open_at(at, timezone_for_department("974")));
    }

    #[test]
    fn french_public_holidays() {
        let hours = parse_hours("Mo-Fr 09:00-17:00; PH off").unwrap();
        // 2024-07-15 is a Monday; 2025-07-14 (Monday) is Bastille Day.
        assert!(hours.is_open_at(paris(2024, 7, 15, 10, 0), Tz::Europe__Paris));
        assert!(!hours.is_open_at(paris(2025, 7, 14, 10, 0), Tz::Europe__Paris));
    }

    #[test]
    fn cleanup_of_french_times_and_dashes() {
        let hours = parse_hours(" Mo-Fr  9h00–12h, 14h-17h30 ").unwrap();
        assert!(hours.was_cleaned());
        assert_eq!(hours.parsed(), "Mo-Fr 09:00-12:00, 14:00-17:30");
        assert_eq!(french_times("Th 10h-12h; 24h/24"), "Th 10:00-12:00; 24h/24");
        assert_eq!(french_times("PH off; 123h"), "PH off; 123h");
    }

    #[test]
    fn invalid_values_error_without_panicking() {
        let err = parse_hours("Lundi matin, sur rendez-vous").unwrap_err();
        assert!(matches!(err, HoursError::Invalid { .. }));
        let message = err.to_string();
        assert!(
            message.starts_with("not valid opening_hours syntax"),
            "{message}"
        );
        assert!(!message.contains('\n'), "{message}");
        assert_eq!(parse_hours("  ").unwrap_err(), HoursError::Empty);
        for weird in [
            "Mo-Fr 25:00-26:00",
            "Mo 14-17;9-12,14-17",
            ";;",
            "2024-2020",
            "99999999 Mo",
        ] {
            let _ = parse_hours(weird);
        }
    }

    #[test]
    fn week_form_of_regular_and_dated_hours() {
        let week = parse_hours("Mo-Fr 09:00-12:00,14:00-17:00; Sa 09:00-12:00")
            .unwrap()
            .week();
        let mut expected = Vec::new();
        for day in 0..5 {
            expected.push((day * 1440 + 540, day * 1440 + 720));
            expected.push((day * 1440 + 840, day * 1440 + 1020));
        }
        expected.push((5 * 1440 + 540, 5 * 1440 + 720));
        assert_eq!(week, Week::Weekly(expected));
        assert_eq!(
            parse_hours("24/7").unwrap().week(),
            Week::Weekly(vec![(0, MINUTES_PER_WEEK)])
        );
        assert_eq!(
            parse_hours("Mo-Fr 09:00-17:00; PH off").unwrap().week(),
            Week::Dated
        );
        assert_eq!(
            parse_hours("Jan-Jun Mo 09:00-12:00").unwrap().week(),
            Week::Dated
        );
        assert_eq!(
            parse_hours("Su 22:00-02:00").unwrap().week().encode(),
            "[[0,120],[9960,10080]]"
        );
        // 10:00 on Tuesday 2024-03-12 in Paris; 13:00 the same instant in Réunion.
        let at = paris(2024, 3, 12, 10, 0);
        assert_eq!(minute_of_week(at, Tz::Europe__Paris), 1440 + 600);
        assert_eq!(minute_of_week(at, Tz::Indian__Reunion), 1440 + 780);
    }

    #[test]
    fn department_time_zones() {
        assert_eq!(timezone_for_department("974"), Tz::Indian__Reunion);
        assert_eq!(timezone_for_department("971"), Tz::America__Guadeloupe);
        assert_eq!(timezone_for_department("972"), Tz::America__Martinique);
        assert_eq!(timezone_for_department("973"), Tz::America__Cayenne);
        assert_eq!(timezone_for_department("976"), Tz::Indian__Mayotte);
        assert_eq!(timezone_for_department("69"), Tz::Europe__Paris);
        assert_eq!(timezone_for_department("2A"), Tz::Europe__Paris);
    }
}
