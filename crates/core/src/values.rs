//! Value types parsed once at the edge. Their only constructors validate, so a value that exists is valid.

use crate::error::InvalidValue;
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_value {
    ($name:ident) => {
        impl $name {
            /// The value as stored and displayed.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidValue;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }
    };
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Luhn checksum, used by SIREN/SIRET.
fn luhn_ok(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let dd = d * 2;
                if dd > 9 { dd - 9 } else { dd }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A SIRET (14-digit establishment identifier), checked with the Luhn key.
///
/// La Poste's establishments (SIREN 356 000 000) do not follow the Luhn key; their rule (sum of digits divisible by
/// 5) is accepted too, as the INSEE does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Siret(String);

impl Siret {
    /// Parses a SIRET, ignoring spaces (as printed on documents).
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let s: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        if s.len() != 14 || !all_digits(&s) {
            return Err(InvalidValue::new("SIRET", "expected 14 digits", raw));
        }
        let la_poste = s.starts_with("356000000")
            && s.bytes()
                .map(|b| u32::from(b - b'0'))
                .sum::<u32>()
                .is_multiple_of(5);
        if !luhn_ok(&s) && !la_poste {
            return Err(InvalidValue::new(
                "SIRET",
                "the check digit is wrong (Luhn key)",
                raw,
            ));
        }
        Ok(Self(s))
    }

    /// The SIREN (9 first digits): the legal unit this establishment belongs to.
    pub fn siren(&self) -> &str {
        &self.0[..9]
    }
}
string_value!(Siret);

/// The national standard's `pivot`: the identifier of the structure behind a site.
///
/// It is a SIRET (14 digits), an RNA number (`W` + 9 characters) or a RIDET (New Caledonia, 9–10 digits). The
/// placeholder `00000000000000`, common in real files, is accepted and recognisable with [`Pivot::is_placeholder`]:
/// refusing it would drop most real rows, and the standard's own pattern allows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Pivot(String);

/// The placeholder pivot used by sources that do not know the structure's identifier.
pub const PLACEHOLDER_PIVOT: &str = "00000000000000";

impl Pivot {
    /// Parses a pivot; the SIRET check digit is not enforced here because many sources carry SIRETs with typos
    /// that still identify the structure for a human, and the standard's pattern does not require it.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let s: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        let siret_like = s.len() == 14 && all_digits(&s);
        let rna = s.len() == 10
            && (s.starts_with('W') || s.starts_with('w'))
            && s[1..].bytes().all(|b| b.is_ascii_alphanumeric());
        let ridet = (9..=10).contains(&s.len()) && all_digits(&s);
        if siret_like || rna || ridet {
            Ok(Self(s.to_ascii_uppercase()))
        } else {
            Err(InvalidValue::new(
                "pivot",
                "expected a SIRET (14 digits), an RNA number (W + 9 characters) or a RIDET (9-10 digits)",
                raw,
            ))
        }
    }

    /// The placeholder pivot (`00000000000000`), for rows whose structure is unknown.
    pub fn placeholder() -> Self {
        Self(PLACEHOLDER_PIVOT.to_owned())
    }

    /// Whether this is the `00000000000000` placeholder rather than a real identifier.
    pub fn is_placeholder(&self) -> bool {
        self.0 == PLACEHOLDER_PIVOT
    }
}
string_value!(Pivot);

/// A French postal code (5 digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PostalCode(String);

impl PostalCode {
    /// `00000`, a neutral value for a site read without its postal code (a names-only read, see
    /// `maillage_sites::SiteParts::Names`): never stored, never served as a site's.
    pub fn placeholder() -> Self {
        Self("00000".to_owned())
    }

    /// Parses a postal code; a 4-digit value is refused rather than padded, because a spreadsheet that dropped the
    /// leading zero may also have altered other columns, and the row is better reported.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let s = raw.trim();
        if s.len() == 5 && all_digits(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidValue::new("postal code", "expected 5 digits", raw))
        }
    }

    /// [`PostalCode::parse`] of a value already owned, kept as it is when it needs no trimming: a site read from the
    /// database holds its postal code as stored, and copying it again was one more allocation per site of a page
    /// (issue #16).
    pub fn parse_owned(raw: String) -> Result<Self, InvalidValue> {
        if raw.len() == 5 && all_digits(&raw) {
            Ok(Self(raw))
        } else {
            Self::parse(&raw)
        }
    }

    /// The department code most likely for this postal code.
    ///
    /// Postal codes follow departments except in Corsica (20000–20199 → 2A, 20200–20699 → 2B) and overseas (97xxx →
    /// 3 digits). A few communes near a border have a neighbour's postal code; `code_insee`, when known, is better.
    /// Returns `None` for codes outside the 101 departments (98xxx: Monaco and the Pacific; 975, 977, 978).
    pub fn department_code(&self) -> Option<crate::DepartmentCode> {
        let s = &self.0;
        let code = if let Some(rest) = s.strip_prefix("20") {
            let n: u32 = rest.parse().ok()?;
            if n < 200 {
                "2A".to_owned()
            } else {
                "2B".to_owned()
            }
        } else if s.starts_with("97") {
            s[..3].to_owned()
        } else {
            s[..2].to_owned()
        };
        crate::DepartmentCode::parse(&code).ok()
    }
}
string_value!(PostalCode);

/// An INSEE commune code (`code_insee`): 5 characters, `2A`/`2B` for Corsica.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InseeCode(String);

impl InseeCode {
    /// Parses a commune code with the standard's pattern `^([013-9]\d|2[AB1-9])\d{3}$`.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let s = raw.trim().to_ascii_uppercase();
        let b = s.as_bytes();
        let ok = b.len() == 5
            && b[2..].iter().all(u8::is_ascii_digit)
            && match b[0] {
                b'0' | b'1' | b'3'..=b'9' => b[1].is_ascii_digit(),
                b'2' => matches!(b[1], b'A' | b'B' | b'1'..=b'9'),
                _ => false,
            };
        if ok {
            Ok(Self(s))
        } else {
            Err(InvalidValue::new(
                "INSEE code",
                "expected a 5-character commune code such as 69123 or 2A004",
                raw,
            ))
        }
    }

    /// The department this commune belongs to: 3 digits overseas (97x), 2 characters elsewhere.
    pub fn department_code(&self) -> Option<crate::DepartmentCode> {
        let code = if self.0.starts_with("97") {
            &self.0[..3]
        } else {
            &self.0[..2]
        };
        crate::DepartmentCode::parse(code).ok()
    }
}
string_value!(InseeCode);

/// An e-mail address, syntactically plausible (one `@`, a dotted domain, no spaces).
///
/// Deliverability is not checked: that needs the network, and the address may belong to a person (personal data).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Parses an address; the domain is lower-cased, the local part kept as given.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let s = raw.trim();
        let Some((local, domain)) = s.split_once('@') else {
            return Err(InvalidValue::new("e-mail", "missing @", raw));
        };
        let ok = !local.is_empty()
            && local.len() <= 64
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !s.chars().any(char::is_whitespace)
            && s.len() <= 254;
        if ok {
            Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
        } else {
            Err(InvalidValue::new("e-mail", "not a valid address", raw))
        }
    }
}
string_value!(Email);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siret_luhn() {
        assert!(Siret::parse("43493312300029").is_ok());
        assert!(Siret::parse("434 933 123 00029").is_ok());
        assert!(Siret::parse("43493312300028").is_err());
        assert!(Siret::parse("4349331230002").is_err());
        assert!(Siret::parse("35600000000048").is_ok(), "La Poste rule");
    }

    #[test]
    fn pivot_kinds() {
        assert!(Pivot::parse("00000000000000").is_ok_and(|p| p.is_placeholder()));
        assert!(Pivot::parse("W751234567").is_ok());
        assert!(Pivot::parse("1234567001").is_ok());
        assert!(Pivot::parse("12345").is_err());
        assert!(Pivot::parse("").is_err());
    }

    #[test]
    fn postal_code_to_department() {
        let dep = |s: &str| PostalCode::parse(s).ok().and_then(|p| p.department_code());
        assert_eq!(dep("69001").map(|d| d.to_string()), Some("69".into()));
        assert_eq!(dep("01000").map(|d| d.to_string()), Some("01".into()));
        assert_eq!(dep("20000").map(|d| d.to_string()), Some("2A".into()));
        assert_eq!(dep("20200").map(|d| d.to_string()), Some("2B".into()));
        assert_eq!(dep("97400").map(|d| d.to_string()), Some("974".into()));
        assert_eq!(dep("98000"), None);
        assert!(PostalCode::parse("6900").is_err());
    }

    #[test]
    fn an_owned_postal_code_parses_as_a_borrowed_one() {
        for raw in ["69001", " 69001 ", "6900", "690011", "6900a", "", "  "] {
            assert_eq!(
                PostalCode::parse_owned(raw.to_owned()).map(|p| p.to_string()),
                PostalCode::parse(raw).map(|p| p.to_string()),
                "{raw:?}"
            );
        }
        let raw = "75011".to_owned();
        let at = raw.as_ptr();
        let kept = PostalCode::parse_owned(raw).map(String::from);
        assert_eq!(kept.as_deref().map(str::as_ptr), Ok(at), "kept, not copied");
    }

    #[test]
    fn insee_codes() {
        for ok in ["69123", "2A004", "2b033", "97411", "01001"] {
            assert!(InseeCode::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["20123", "2C004", "6912", "A9123"] {
            assert!(InseeCode::parse(bad).is_err(), "{bad}");
        }
        let dep = |s: &str| InseeCode::parse(s).ok().and_then(|c| c.department_code());
        assert_eq!(dep("97411").map(|d| d.to_string()), Some("974".into()));
        assert_eq!(dep("2A004").map(|d| d.to_string()), Some("2A".into()));
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" contact@ARQA.FR ").map(String::from),
            Ok("contact@arqa.fr".to_owned())
        );
        for bad in ["nobody", "a@b", "a b@c.fr", "@c.fr", "a@.fr"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
