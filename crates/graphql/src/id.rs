//! Opaque global IDs for the `Node` interface: base64url of `Type:key`.

use crate::error::coded;
use async_graphql::ID;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The kinds of node a global ID can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// A site; key: integer id.
    Site,
    /// A hub; key: integer id.
    Hub,
    /// A department; key: INSEE code.
    Department,
    /// A region; key: INSEE code.
    Region,
}

impl NodeKind {
    fn prefix(self) -> &'static str {
        match self {
            Self::Site => "Site",
            Self::Hub => "Hub",
            Self::Department => "Department",
            Self::Region => "Region",
        }
    }
}

/// Encodes a global ID.
pub fn encode(kind: NodeKind, key: impl std::fmt::Display) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{}:{key}", kind.prefix())))
}

/// Decodes a global ID into its kind and key; any malformed ID is an `invalid_id` error, never a parser message.
pub fn decode(id: &ID) -> async_graphql::Result<(NodeKind, String)> {
    let invalid = || {
        coded(
            "this ID is not valid: use an id returned by this API",
            "invalid_id",
            None,
        )
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(id.as_str().trim_end_matches('='))
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (prefix, key) = text.split_once(':').ok_or_else(invalid)?;
    let kind = [
        NodeKind::Site,
        NodeKind::Hub,
        NodeKind::Department,
        NodeKind::Region,
    ]
    .into_iter()
    .find(|k| k.prefix() == prefix)
    .ok_or_else(invalid)?;
    if key.is_empty() {
        return Err(invalid());
    }
    Ok((kind, key.to_owned()))
}

/// Decodes a global ID that must name a `kind` with an integer key.
pub fn decode_int(id: &ID, kind: NodeKind) -> async_graphql::Result<i32> {
    match decode(id)? {
        (k, key) if k == kind => key.parse().map_err(|_| {
            coded(
                "this ID is not valid: use an id returned by this API",
                "invalid_id",
                None,
            )
        }),
        _ => Err(coded(
            &format!("this ID does not name a {}", kind.prefix()),
            "invalid_id",
            None,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let id = encode(NodeKind::Site, 42);
        assert_eq!(decode_int(&id, NodeKind::Site).ok(), Some(42));
        assert!(decode_int(&id, NodeKind::Hub).is_err());
        for bad in ["", "!!!", "U2l0ZQ", "Rm9vOjE"] {
            assert!(decode(&ID(bad.to_owned())).is_err(), "{bad}");
        }
    }
}
