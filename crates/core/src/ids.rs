//! Typed identifiers: a `SiteId` can never be passed where a `HubId` is expected.

use crate::error::InvalidValue;
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! int_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub i32);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

int_id!(
    /// Identifier of a lieu de médiation numérique (site).
    SiteId
);
int_id!(
    /// Identifier of a hub territorial.
    HubId
);

/// INSEE code of a department: two digits, `2A`/`2B` for Corsica, or three digits `971`–`976` overseas.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DepartmentCode(String);

impl DepartmentCode {
    /// Parses a department code; `"1"` is not accepted for `"01"`, because an INSEE code is a string, not a number.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let trimmed = raw.trim();
        if Self::is_canonical(trimmed) {
            return Ok(Self(trimmed.to_owned()));
        }
        let upper = trimmed.to_ascii_uppercase();
        if Self::is_canonical(&upper) {
            Ok(Self(upper))
        } else {
            Err(InvalidValue::new(
                "department code",
                "expected an INSEE department code such as 01, 2A or 974",
                raw,
            ))
        }
    }

    /// [`DepartmentCode::parse`], keeping `raw` itself when it is already the code as stored.
    ///
    /// Why: every site row read carries its department's code; taking the decoded text saves copying it again
    /// (about 1 % of a page of 50 sites, issue #16).
    pub fn parse_owned(raw: String) -> Result<Self, InvalidValue> {
        if Self::is_canonical(&raw) {
            Ok(Self(raw))
        } else {
            Self::parse(&raw)
        }
    }

    /// Whether `s` is a department code exactly as stored: no spaces, Corsica's letters in capitals.
    fn is_canonical(s: &str) -> bool {
        match s.len() {
            2 => {
                s == "2A"
                    || s == "2B"
                    || (s.bytes().all(|b| b.is_ascii_digit())
                        && s.parse::<u8>()
                            .is_ok_and(|n| (1..=95).contains(&n) && n != 20))
            }
            // 975 (Saint-Pierre-et-Miquelon) is a collectivité, not one of the 101 departments.
            3 => s.starts_with("97") && matches!(s.as_bytes()[2], b'1'..=b'4' | b'6'),
            _ => false,
        }
    }

    /// The code as stored and displayed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DepartmentCode {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse_owned(value)
    }
}

impl From<DepartmentCode> for String {
    fn from(value: DepartmentCode) -> Self {
        value.0
    }
}

impl fmt::Display for DepartmentCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// INSEE code of a region (two digits, e.g. `84` for Auvergne-Rhône-Alpes, `01` for Guadeloupe).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RegionCode(String);

impl RegionCode {
    /// Parses a two-digit region code.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let s = raw.trim();
        if s.len() == 2 && s.chars().all(|c| c.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidValue::new(
                "region code",
                "expected a two-digit INSEE region code such as 84",
                raw,
            ))
        }
    }

    /// The code as stored and displayed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RegionCode {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<RegionCode> for String {
    fn from(value: RegionCode) -> Self {
        value.0
    }
}

impl fmt::Display for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The API's global ID of an object: base64url without padding of `Type:key`, where `Type` is the GraphQL type
/// name and `key` its key within the type (an integer id, an INSEE code, or `parent.child` for objects listed under
/// a parent).
///
/// It lives here, not in the GraphQL layer, because files written outside the API (the AMI exports, whether asked
/// over HTTP or from the command line) must name objects exactly as the API does, so that a reviewer can paste an
/// id from a spreadsheet into `node(id:)`.
pub fn global_id(type_name: &str, key: impl fmt::Display) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{type_name}:{key}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn global_ids_are_base64url_of_type_and_key() {
        assert_eq!(global_id("Hub", 1), "SHViOjE");
        assert_eq!(global_id("AmiScoreSheet", "3.7"), "QW1pU2NvcmVTaGVldDozLjc");
    }

    #[test]
    fn department_codes() {
        for ok in ["01", "2A", "2b", "95", "971", "976"] {
            assert!(DepartmentCode::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "1", "00", "20", "96", "98", "977", "970", "2C", "", "abc", "9711", "+1",
        ] {
            assert!(DepartmentCode::parse(bad).is_err(), "{bad}");
            assert!(
                DepartmentCode::parse_owned(bad.to_owned()).is_err(),
                "{bad}"
            );
        }
        // The owned form gives the same code, spaces and Corsica's small letters included.
        for (raw, code) in [("01", "01"), (" 2b ", "2B"), ("2a", "2A"), ("974 ", "974")] {
            assert_eq!(DepartmentCode::parse(raw).unwrap().as_str(), code);
            assert_eq!(
                DepartmentCode::parse_owned(raw.to_owned())
                    .unwrap()
                    .as_str(),
                code
            );
        }
    }
}
