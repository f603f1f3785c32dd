//! One codec for every global ID: base64url (no padding) of `Kind:key`.
//!
//! Every object with an `id` encodes it here and every argument taking an ID decodes it here, so an ID the API
//! returned is always accepted by `node(id:)` and by the fields and inputs that take that kind. Clients must treat
//! IDs as opaque.

use crate::kit::error::coded;
use async_graphql::ID;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use maillage_core::Code;

/// The kinds of object a global ID can name: one per GraphQL type implementing `Node`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeKind {
    /// A site; key: integer id.
    Site,
    /// A hub; key: integer id.
    Hub,
    /// A department; key: INSEE code.
    Department,
    /// A region; key: INSEE code.
    Region,
    /// A host structure of conseillers numériques.
    HostStructure,
    /// A funded post.
    FundedPost,
    /// A conseiller numérique.
    Counsellor,
    /// An Aidants Connect organisation.
    AidantsOrganisation,
    /// An aidant.
    Aidant,
    /// A funding envelope.
    Envelope,
    /// A funding rule.
    FundingRule,
    /// A grant.
    Grant,
    /// A disbursement of a grant.
    Disbursement,
    /// A Pass numérique programme.
    PassProgramme,
    /// An AMI campaign.
    AmiCampaign,
    /// An AMI dossier.
    AmiApplication,
    /// An attachment of an AMI dossier.
    AmiAttachment,
    /// A reviewer's score sheet.
    AmiScoreSheet,
    /// A feed of sites.
    Feed,
    /// An import job (one file sent to a feed).
    ImportJob,
    /// An API token (or a hub-coordinator invitation).
    ApiToken,
    /// A candidate pair of duplicate source records.
    SiteMatch,
    /// A person coordinating a hub.
    HubCoordinator,
    /// An indicator reported by a hub (or the network of hubs).
    HubIndicator,
}

impl NodeKind {
    /// Every kind, in the order of the schema's documentation.
    pub const ALL: [Self; 24] = [
        Self::Site,
        Self::Hub,
        Self::Department,
        Self::Region,
        Self::HostStructure,
        Self::FundedPost,
        Self::Counsellor,
        Self::AidantsOrganisation,
        Self::Aidant,
        Self::Envelope,
        Self::FundingRule,
        Self::Grant,
        Self::Disbursement,
        Self::PassProgramme,
        Self::AmiCampaign,
        Self::AmiApplication,
        Self::AmiAttachment,
        Self::AmiScoreSheet,
        Self::Feed,
        Self::ImportJob,
        Self::ApiToken,
        Self::SiteMatch,
        Self::HubCoordinator,
        Self::HubIndicator,
    ];

    /// The GraphQL type name, which is also the prefix inside the ID.
    pub fn type_name(self) -> &'static str {
        match self {
            Self::Site => "Site",
            Self::Hub => "Hub",
            Self::Department => "Department",
            Self::Region => "Region",
            Self::HostStructure => "HostStructure",
            Self::FundedPost => "FundedPost",
            Self::Counsellor => "Counsellor",
            Self::AidantsOrganisation => "AidantsOrganisation",
            Self::Aidant => "Aidant",
            Self::Envelope => "Envelope",
            Self::FundingRule => "FundingRule",
            Self::Grant => "Grant",
            Self::Disbursement => "Disbursement",
            Self::PassProgramme => "PassProgramme",
            Self::AmiCampaign => "AmiCampaign",
            Self::AmiApplication => "AmiApplication",
            Self::AmiAttachment => "AmiAttachment",
            Self::AmiScoreSheet => "AmiScoreSheet",
            Self::Feed => "Feed",
            Self::ImportJob => "ImportJob",
            Self::ApiToken => "ApiToken",
            Self::SiteMatch => "SiteMatch",
            Self::HubCoordinator => "HubCoordinator",
            Self::HubIndicator => "HubIndicator",
        }
    }
}

impl NodeKind {
    /// Whether the key also names the parent (`parent.child`), so that `node` can find an object that its domain
    /// only lists under its parent: a disbursement under its grant, an attachment or a score sheet under its dossier.
    pub fn keyed_under_parent(self) -> bool {
        matches!(
            self,
            Self::Disbursement | Self::AmiAttachment | Self::AmiScoreSheet
        )
    }
}

/// Why an ID was refused; the message is safe to show to a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Not an ID this API produces.
    #[error("this ID is not valid: use an id returned by this API")]
    Malformed,
    /// A valid ID of another kind.
    #[error("this ID does not name a {0}")]
    WrongKind(&'static str),
}

/// Encodes a global ID.
pub fn encode(kind: NodeKind, key: impl std::fmt::Display) -> ID {
    ID(maillage_core::ids::global_id(kind.type_name(), key))
}

/// Decodes a global ID into its kind and (non-empty) key.
pub fn parse(raw: &str) -> Result<(NodeKind, String), IdError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(raw.trim().trim_end_matches('='))
        .map_err(|_| IdError::Malformed)?;
    let text = String::from_utf8(bytes).map_err(|_| IdError::Malformed)?;
    let (prefix, key) = text.split_once(':').ok_or(IdError::Malformed)?;
    let kind = NodeKind::ALL
        .into_iter()
        .find(|k| k.type_name() == prefix)
        .ok_or(IdError::Malformed)?;
    if key.is_empty() {
        return Err(IdError::Malformed);
    }
    Ok((kind, key.to_owned()))
}

/// Encodes the global ID of an object listed under a parent (see [`NodeKind::keyed_under_parent`]).
pub fn encode_child(kind: NodeKind, parent: i32, id: i32) -> ID {
    encode(kind, format_args!("{parent}.{id}"))
}

/// Decodes a global ID that must name a `kind` with an integer key; for a kind keyed under its parent, the
/// object's own id (the last part).
pub fn parse_int(raw: &str, kind: NodeKind) -> Result<i32, IdError> {
    parse_child(raw, kind).map(|(_, id)| id)
}

/// Decodes a global ID of `kind` into the parent's id (when the kind is keyed under its parent) and its own.
pub fn parse_child(raw: &str, kind: NodeKind) -> Result<(Option<i32>, i32), IdError> {
    let (k, key) = parse(raw)?;
    if k != kind {
        return Err(IdError::WrongKind(kind.type_name()));
    }
    let number = |s: &str| s.parse::<i32>().map_err(|_| IdError::Malformed);
    match key.split_once('.') {
        Some((parent, id)) if kind.keyed_under_parent() => Ok((Some(number(parent)?), number(id)?)),
        Some(_) => Err(IdError::Malformed),
        None => Ok((None, number(&key)?)),
    }
}

/// [`parse`], as a GraphQL error with code `invalid_id`.
pub fn decode(id: &ID) -> async_graphql::Result<(NodeKind, String)> {
    parse(id).map_err(|e| coded(&e.to_string(), Code::InvalidId, None))
}

/// [`parse_int`], as a GraphQL error with code `invalid_id`.
pub fn decode_int(id: &ID, kind: NodeKind) -> async_graphql::Result<i32> {
    parse_int(id, kind).map_err(|e| coded(&e.to_string(), Code::InvalidId, None))
}

/// [`parse_int`] for an argument: a GraphQL error with code `invalid_id` naming the argument.
pub fn decode_arg(id: &ID, kind: NodeKind, field: &str) -> async_graphql::Result<i32> {
    parse_int(id, kind).map_err(|e| coded(&e.to_string(), Code::InvalidId, Some(field.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        for kind in NodeKind::ALL {
            let id = encode(kind, 42);
            assert_eq!(parse_int(&id, kind), Ok(42), "{kind:?}");
        }
        let id = encode(NodeKind::Site, 42);
        assert_eq!(
            parse_int(&id, NodeKind::Hub),
            Err(IdError::WrongKind("Hub"))
        );
        let child = encode_child(NodeKind::AmiAttachment, 3, 7);
        assert_eq!(
            parse_child(&child, NodeKind::AmiAttachment),
            Ok((Some(3), 7))
        );
        assert_eq!(parse_int(&child, NodeKind::AmiAttachment), Ok(7));
        assert_eq!(
            parse_int(&encode(NodeKind::Site, "3.7"), NodeKind::Site),
            Err(IdError::Malformed)
        );
        // A key that is not a number, for a kind keyed by numbers.
        assert_eq!(
            parse_int("QW1pQXBwbGljYXRpb246eA", NodeKind::AmiApplication),
            Err(IdError::Malformed)
        );
        for bad in [
            "",
            "!!!",
            "U2l0ZQ",
            "Rm9vOjE",
            "U2l0ZTo",
            "QW1pQXBwbGljYXRpb246",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn type_names_are_unique() {
        let mut names: Vec<_> = NodeKind::ALL.iter().map(|k| k.type_name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), NodeKind::ALL.len());
    }
}
