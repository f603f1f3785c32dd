//! Who is calling, and what that caller may see and do.
//!
//! The domain services receive an `Actor` and decide; resolvers and the CLI never check permissions themselves, so
//! every entry point obeys the same rules. How an actor is established (API token today, OIDC later) is the
//! server's business, not the domains'.

use crate::ids::{DepartmentCode, HubId};

/// The roles of `DOMAIN.md`'s access table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// No credentials: public data only.
    Anonymous,
    /// A partner application with a token: public data only, but identified (rate limits, audit).
    Partner,
    /// The coordinator of one hub: personal data and writes within that hub's departments.
    HubCoordinator,
    /// Banque des Territoires staff: everything but usager data; AMI reviews and decisions; funding.
    BdtReviewer,
    /// A candidate to the AMI: its own applications only.
    AmiApplicant,
    /// Operators: everything, including tokens.
    Admin,
}

impl Role {
    /// Every role, for documentation and exhaustive tests.
    pub const ALL: [Role; 6] = [
        Self::Anonymous,
        Self::Partner,
        Self::HubCoordinator,
        Self::BdtReviewer,
        Self::AmiApplicant,
        Self::Admin,
    ];

    /// The stable name used in tokens, the CLI and the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Anonymous => "anonymous",
            Self::Partner => "partner",
            Self::HubCoordinator => "hub_coordinator",
            Self::BdtReviewer => "bdt_reviewer",
            Self::AmiApplicant => "ami_applicant",
            Self::Admin => "admin",
        }
    }

    /// Parses a role name (`hub_coordinator`, also `hub-coordinator`).
    pub fn parse(raw: &str) -> Option<Self> {
        let wanted = raw.trim().to_ascii_lowercase().replace('-', "_");
        Self::ALL.into_iter().find(|r| r.as_str() == wanted)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The caller of a domain service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    role: Role,
    hub: Option<HubScope>,
    label: String,
    request_id: Option<String>,
    subject: Option<String>,
}

/// The territory a hub coordinator answers for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubScope {
    /// The hub.
    pub hub: HubId,
    /// The departments that hub covers, resolved when the actor is built so checks need no query.
    pub departments: Vec<DepartmentCode>,
}

impl Actor {
    /// An unauthenticated caller.
    pub fn anonymous() -> Self {
        Self {
            role: Role::Anonymous,
            hub: None,
            label: "anonymous".to_owned(),
            request_id: None,
            subject: None,
        }
    }

    /// The operator running the `maillage` command line on the server: an admin, named in the audit trail.
    pub fn cli() -> Self {
        Self {
            role: Role::Admin,
            hub: None,
            label: "cli".to_owned(),
            request_id: None,
            subject: None,
        }
    }

    /// An actor with a role that has no territorial scope; `label` names it in logs and the audit trail.
    pub fn with_role(role: Role, label: impl Into<String>) -> Self {
        Self {
            role,
            hub: None,
            label: label.into(),
            request_id: None,
            subject: None,
        }
    }

    /// A hub coordinator bound to one hub and its departments.
    pub fn hub_coordinator(scope: HubScope, label: impl Into<String>) -> Self {
        Self {
            role: Role::HubCoordinator,
            hub: Some(scope),
            label: label.into(),
            request_id: None,
            subject: None,
        }
    }

    /// The same actor acting within one request, so the audit trail can name the request.
    #[must_use]
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// The same actor with a stable account identity (see [`Actor::subject`]).
    #[must_use]
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// The stable account this actor acts for, when the way it authenticated names one.
    ///
    /// For an API token it is the token's name, not its id: an account whose token is rotated (a new token with
    /// the same name) keeps what it owns, e.g. its AMI dossiers. The label, which includes the token id, is kept
    /// for the audit trail, so the trail still says which token acted.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// The request this actor acts in, if any (none for the CLI).
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// Whether the caller is an admin.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// The caller's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The hub scope of a hub coordinator.
    pub fn hub_scope(&self) -> Option<&HubScope> {
        self.hub.as_ref()
    }

    /// A human-readable name for logs and the audit trail (token name, `cli`, `anonymous`).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Whether the caller's territory includes this department (always for national roles).
    pub fn covers_department(&self, department: Option<&DepartmentCode>) -> bool {
        match self.role {
            Role::Admin | Role::BdtReviewer => true,
            Role::HubCoordinator => match (&self.hub, department) {
                (Some(scope), Some(dep)) => scope.departments.contains(dep),
                _ => false,
            },
            Role::Anonymous | Role::Partner | Role::AmiApplicant => false,
        }
    }

    /// Whether the caller may read personal data (names, personal e-mails and phones of people) attached to a
    /// record located in `department`.
    ///
    /// Anonymous callers and partner apps never may; a hub coordinator only within its departments.
    pub fn can_read_personal_data(&self, department: Option<&DepartmentCode>) -> bool {
        self.covers_department(department)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(code: &str) -> DepartmentCode {
        DepartmentCode::parse(code).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn personal_data_visibility() {
        let coordinator = Actor::hub_coordinator(
            HubScope {
                hub: HubId(1),
                departments: vec![dep("69"), dep("01")],
            },
            "hinaura",
        );
        assert!(coordinator.can_read_personal_data(Some(&dep("69"))));
        assert!(!coordinator.can_read_personal_data(Some(&dep("13"))));
        assert!(!coordinator.can_read_personal_data(None));
        assert!(!Actor::anonymous().can_read_personal_data(Some(&dep("69"))));
        assert!(!Actor::with_role(Role::Partner, "app").can_read_personal_data(Some(&dep("69"))));
        assert!(Actor::cli().can_read_personal_data(None));
    }

    #[test]
    fn the_subject_is_kept_apart_from_the_label() {
        let actor =
            Actor::with_role(Role::AmiApplicant, "token:7:asso-breizh").with_subject("asso-breizh");
        assert_eq!(actor.subject(), Some("asso-breizh"));
        assert_eq!(actor.label(), "token:7:asso-breizh");
        assert_eq!(Actor::cli().subject(), None);
    }
}
