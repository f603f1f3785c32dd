//! The application's life cycle as a pure function: no database, no clock of its own.
//!
//! ```text
//! draft ──submit──▶ submitted ──start_review──▶ under_review ──select──▶ selected
//!                      │  ▲                        │   └──────reject──▶ rejected
//!                      │  └────── request_changes ─┤
//!                      ▼                           ▼
//!              changes_requested ──resubmit──▶ resubmitted ──start_review──▶ under_review
//! any non-final status ──withdraw (applicant)──▶ withdrawn
//! ```
//!
//! `selected`, `rejected` and `withdrawn` are final. Only the applicant edits, and only a `draft` or a dossier with
//! `changes_requested`; nobody else ever edits a dossier. `submit` is refused outside the campaign's window, to the
//! second: the window is closed from `opens_at` to `closes_at` inclusive, where an instant is compared after
//! dropping its fraction of a second (so all of 23:59:59 is still before a 23:59:59 deadline). `resubmit` is not
//! bound to the deadline: changes are requested during the review, which happens after the closing.

use chrono::{DateTime, SubsecRound, Utc};
use chrono_tz::Europe::Paris;
use std::fmt;

/// Where an application stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Being prepared by its applicant; editable; invisible to reviewers.
    Draft,
    /// Sent before the deadline; frozen.
    Submitted,
    /// Being reviewed: reviewers score it.
    UnderReview,
    /// Reviewers asked the applicant for changes: editable again by the applicant.
    ChangesRequested,
    /// Sent again after changes; frozen.
    Resubmitted,
    /// Laureate: a hub and its grant were created. Final.
    Selected,
    /// Not retained; the reason is visible to the applicant. Final.
    Rejected,
    /// Withdrawn by its applicant. Final.
    Withdrawn,
}

impl Status {
    /// Every status, for parsing, documentation and exhaustive tests.
    pub const ALL: [Status; 8] = [
        Self::Draft,
        Self::Submitted,
        Self::UnderReview,
        Self::ChangesRequested,
        Self::Resubmitted,
        Self::Selected,
        Self::Rejected,
        Self::Withdrawn,
    ];

    /// The stable name stored in the database and used in filters and exports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Submitted => "submitted",
            Self::UnderReview => "under_review",
            Self::ChangesRequested => "changes_requested",
            Self::Resubmitted => "resubmitted",
            Self::Selected => "selected",
            Self::Rejected => "rejected",
            Self::Withdrawn => "withdrawn",
        }
    }

    /// Parses a stable name (case-insensitive, `-` accepted for `_`).
    pub fn parse(raw: &str) -> Option<Self> {
        let wanted = raw.trim().to_ascii_lowercase().replace('-', "_");
        Self::ALL.into_iter().find(|s| s.as_str() == wanted)
    }

    /// Whether nothing can happen to the application any more.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Selected | Self::Rejected | Self::Withdrawn)
    }

    /// Whether the applicant may change the dossier (its fields and attachments).
    pub fn is_editable(self) -> bool {
        matches!(self, Self::Draft | Self::ChangesRequested)
    }

    /// Whether a decision (selected or rejected) was taken: from then on the applicant sees the scores summary.
    pub fn is_decided(self) -> bool {
        matches!(self, Self::Selected | Self::Rejected)
    }

    /// Whether reviewers may score the dossier in this status.
    pub fn is_scorable(self) -> bool {
        matches!(self, Self::UnderReview)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something that happens to an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Event {
    /// The applicant sends its draft (within the campaign's window).
    Submit,
    /// A reviewer starts reviewing a (re)submitted dossier.
    StartReview,
    /// A reviewer sends the dossier back to its applicant for changes.
    RequestChanges,
    /// The applicant sends the changed dossier again.
    Resubmit,
    /// A reviewer or admin selects it (creates the hub and its grant).
    Select,
    /// A reviewer or admin rejects it, with a reason.
    Reject,
    /// The applicant withdraws it.
    Withdraw,
}

impl Event {
    /// Every event, for exhaustive tests.
    pub const ALL: [Event; 7] = [
        Self::Submit,
        Self::StartReview,
        Self::RequestChanges,
        Self::Resubmit,
        Self::Select,
        Self::Reject,
        Self::Withdraw,
    ];

    /// The stable name, used as the audit trail's action.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submit => "submit",
            Self::StartReview => "start_review",
            Self::RequestChanges => "request_changes",
            Self::Resubmit => "resubmit",
            Self::Select => "select",
            Self::Reject => "reject",
            Self::Withdraw => "withdraw",
        }
    }

    /// Who may fire this event.
    pub fn allowed(self, party: Party) -> bool {
        match self {
            Self::Submit | Self::Resubmit | Self::Withdraw => party == Party::Applicant,
            Self::StartReview | Self::RequestChanges | Self::Select | Self::Reject => {
                matches!(party, Party::Reviewer | Party::Admin)
            }
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who fires an event, as far as the state machine is concerned. The services derive it from the `Actor` (an
/// `ami_applicant` is the `Applicant` only for its own dossiers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Party {
    /// The dossier's owner.
    Applicant,
    /// A Banque des Territoires reviewer.
    Reviewer,
    /// An operator.
    Admin,
}

impl Party {
    /// Every party, for exhaustive tests.
    pub const ALL: [Party; 3] = [Self::Applicant, Self::Reviewer, Self::Admin];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applicant => "the applicant",
            Self::Reviewer => "a reviewer",
            Self::Admin => "an admin",
        }
    }
}

/// A campaign's submission window, inclusive at both ends, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First instant at which a dossier may be submitted.
    pub opens_at: DateTime<Utc>,
    /// Last second at which a dossier may be submitted.
    pub closes_at: DateTime<Utc>,
}

impl Window {
    /// Whether `now` (truncated to the second) is before the opening, within the window, or after the closing.
    pub fn check(&self, now: DateTime<Utc>) -> Result<(), Refusal> {
        let now = now.trunc_subsecs(0);
        if now < self.opens_at {
            Err(Refusal::NotOpen {
                opens_at: self.opens_at,
            })
        } else if now > self.closes_at {
            Err(Refusal::Closed {
                closes_at: self.closes_at,
            })
        } else {
            Ok(())
        }
    }
}

/// Why the state machine refused an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// This party may never fire this event.
    NotAllowed {
        /// Who tried.
        party: Party,
        /// What.
        event: Event,
    },
    /// The event does not apply in this status.
    InvalidTransition {
        /// The current status.
        from: Status,
        /// The refused event.
        event: Event,
    },
    /// Submission after the closing instant.
    Closed {
        /// The closing instant.
        closes_at: DateTime<Utc>,
    },
    /// Submission before the opening instant.
    NotOpen {
        /// The opening instant.
        opens_at: DateTime<Utc>,
    },
}

/// The status after `event`, fired by `party` at `now`, on an application in `from` of a campaign with `window`.
///
/// Checks in this order: who (a party never allowed is refused whatever the status), then the status, then the
/// window (so an invalid transition after the deadline reports the transition, the real reason).
pub fn apply(
    from: Status,
    event: Event,
    party: Party,
    now: DateTime<Utc>,
    window: &Window,
) -> Result<Status, Refusal> {
    if !event.allowed(party) {
        return Err(Refusal::NotAllowed { party, event });
    }
    use Event as E;
    use Status as S;
    let to = match (from, event) {
        (S::Draft, E::Submit) => S::Submitted,
        (S::Submitted | S::Resubmitted, E::StartReview) => S::UnderReview,
        (S::Submitted | S::Resubmitted | S::UnderReview, E::RequestChanges) => S::ChangesRequested,
        (S::ChangesRequested, E::Resubmit) => S::Resubmitted,
        (S::UnderReview, E::Select) => S::Selected,
        (S::UnderReview, E::Reject) => S::Rejected,
        (s, E::Withdraw) if !s.is_final() => S::Withdrawn,
        _ => return Err(Refusal::InvalidTransition { from, event }),
    };
    if event == E::Submit {
        window.check(now)?;
    }
    Ok(to)
}

/// Whether `party` may edit a dossier in `status`: the applicant, in an editable status. Nobody else, ever.
pub fn can_edit(status: Status, party: Party) -> bool {
    party == Party::Applicant && status.is_editable()
}

/// Where the services get the time from: the system clock in production, a fixed instant in tests, so the deadline
/// can be tested to the second.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock stopped at one instant (tests, replays).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// An instant as Europe/Paris local time, for messages (`2021-06-30 23:59:59 CEST`).
pub fn paris(instant: DateTime<Utc>) -> String {
    instant
        .with_timezone(&Paris)
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::{Duration, NaiveDate, TimeZone};

    fn paris_at(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        let naive = NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, mi, s)
            .unwrap();
        Paris
            .from_local_datetime(&naive)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    /// The 2020–2021 AMI: opened 17 Nov 2020, closing 30 June 2021 at 23:59:59, Paris time.
    fn ami_window() -> Window {
        Window {
            opens_at: paris_at(2020, 11, 17, 0, 0, 0),
            closes_at: paris_at(2021, 6, 30, 23, 59, 59),
        }
    }

    #[test]
    fn deadline_is_enforced_to_the_second() {
        let w = ami_window();
        // June is summer time: 23:59:59 in Paris is 21:59:59 UTC.
        assert_eq!(
            w.closes_at,
            Utc.with_ymd_and_hms(2021, 6, 30, 21, 59, 59).unwrap()
        );
        let last = paris_at(2021, 6, 30, 23, 59, 59);
        let too_late = paris_at(2021, 7, 1, 0, 0, 0);
        let submit = |now| apply(Status::Draft, Event::Submit, Party::Applicant, now, &w);
        assert_eq!(submit(last), Ok(Status::Submitted));
        // The whole last second counts, up to its last nanosecond.
        assert_eq!(
            submit(last + Duration::milliseconds(999)),
            Ok(Status::Submitted)
        );
        assert_eq!(
            submit(too_late),
            Err(Refusal::Closed {
                closes_at: w.closes_at
            })
        );
        assert!(submit(too_late + Duration::days(30)).is_err());
        // Before the opening.
        let early = paris_at(2020, 11, 16, 23, 59, 59);
        assert_eq!(
            submit(early),
            Err(Refusal::NotOpen {
                opens_at: w.opens_at
            })
        );
        assert_eq!(submit(w.opens_at), Ok(Status::Submitted));
        assert_eq!(paris(w.closes_at), "2021-06-30 23:59:59 CEST");
    }

    #[test]
    fn resubmission_is_not_bound_to_the_deadline() {
        let w = ami_window();
        let later = paris_at(2021, 9, 15, 10, 0, 0);
        assert_eq!(
            apply(
                Status::ChangesRequested,
                Event::Resubmit,
                Party::Applicant,
                later,
                &w
            ),
            Ok(Status::Resubmitted)
        );
    }

    #[test]
    fn the_table_of_transitions() {
        let w = ami_window();
        let now = paris_at(2021, 3, 1, 12, 0, 0);
        let mut allowed = Vec::new();
        for from in Status::ALL {
            for event in Event::ALL {
                for party in Party::ALL {
                    if let Ok(to) = apply(from, event, party, now, &w) {
                        allowed.push((from.as_str(), event.as_str(), party, to.as_str()));
                    }
                }
            }
        }
        let r = Party::Reviewer;
        let a = Party::Admin;
        let p = Party::Applicant;
        let expected = vec![
            ("draft", "submit", p, "submitted"),
            ("draft", "withdraw", p, "withdrawn"),
            ("submitted", "start_review", r, "under_review"),
            ("submitted", "start_review", a, "under_review"),
            ("submitted", "request_changes", r, "changes_requested"),
            ("submitted", "request_changes", a, "changes_requested"),
            ("submitted", "withdraw", p, "withdrawn"),
            ("under_review", "request_changes", r, "changes_requested"),
            ("under_review", "request_changes", a, "changes_requested"),
            ("under_review", "select", r, "selected"),
            ("under_review", "select", a, "selected"),
            ("under_review", "reject", r, "rejected"),
            ("under_review", "reject", a, "rejected"),
            ("under_review", "withdraw", p, "withdrawn"),
            ("changes_requested", "resubmit", p, "resubmitted"),
            ("changes_requested", "withdraw", p, "withdrawn"),
            ("resubmitted", "start_review", r, "under_review"),
            ("resubmitted", "start_review", a, "under_review"),
            ("resubmitted", "request_changes", r, "changes_requested"),
            ("resubmitted", "request_changes", a, "changes_requested"),
            ("resubmitted", "withdraw", p, "withdrawn"),
        ];
        assert_eq!(allowed, expected);
    }

    /// One step of an explored sequence: what was fired, by whom, when.
    #[derive(Clone, Copy)]
    struct Step {
        event: Event,
        party: Party,
        now: DateTime<Utc>,
    }

    /// Every sequence of up to `DEPTH` steps from a draft, each step any event by any party at any of four instants
    /// (before the opening, inside the window, the last second, the first second after): no sequence reaches an
    /// invalid state. Every step is tried and checked at every node; only accepted steps are followed, since a
    /// refused one leaves the status as it was (a sequence with refusals reaches what a shorter one reaches).
    #[test]
    fn no_sequence_of_calls_reaches_an_invalid_state() {
        const DEPTH: usize = 7;
        let w = ami_window();
        let instants = [
            w.opens_at - Duration::seconds(1),
            paris_at(2021, 3, 1, 12, 0, 0),
            w.closes_at + Duration::milliseconds(500),
            w.closes_at + Duration::seconds(1),
        ];
        let mut steps = Vec::new();
        for event in Event::ALL {
            for party in Party::ALL {
                for now in instants {
                    steps.push(Step { event, party, now });
                }
            }
        }
        let mut explored = 0u64;
        let mut reached = std::collections::BTreeSet::new();
        // Depth-first over (status, history); the history carries what invariants need about the past.
        let mut stack = vec![(Status::Draft, 0usize, false)];
        while let Some((status, depth, was_submitted)) = stack.pop() {
            reached.insert(status);
            if depth == DEPTH {
                continue;
            }
            for step in &steps {
                explored += 1;
                let result = apply(status, step.event, step.party, step.now, &w);
                check_step(status, step, &w, result);
                if let Ok(to) = result {
                    stack.push((to, depth + 1, was_submitted || step.event == Event::Submit));
                    // Nothing but a submission leaves the draft, except withdrawing it.
                    if to != Status::Withdrawn && to != Status::Draft {
                        assert!(
                            was_submitted || step.event == Event::Submit,
                            "{status} → {to} without a submission"
                        );
                    }
                }
            }
        }
        // Every status is reachable, and the exploration was not trivially small.
        assert_eq!(reached.len(), Status::ALL.len(), "{reached:?}");
        assert!(explored > 1_000_000, "{explored}");
    }

    fn check_step(from: Status, step: &Step, w: &Window, result: Result<Status, Refusal>) {
        let ctx = || {
            format!(
                "{from} + {} by {:?} at {}",
                step.event, step.party, step.now
            )
        };
        // Final states stay final.
        if from.is_final() {
            assert!(result.is_err(), "{}", ctx());
        }
        // Roles: applicants never decide nor review; reviewers and admins never submit, resubmit or withdraw.
        if !step.event.allowed(step.party) {
            assert_eq!(
                result,
                Err(Refusal::NotAllowed {
                    party: step.party,
                    event: step.event
                }),
                "{}",
                ctx()
            );
        }
        let Ok(to) = result else { return };
        // A submission happens only inside the window, to the second.
        if step.event == Event::Submit {
            assert!(
                step.now.trunc_subsecs(0) <= w.closes_at && step.now >= w.opens_at,
                "{}",
                ctx()
            );
        }
        // Nobody comes back to a draft.
        assert_ne!(to, Status::Draft, "{}", ctx());
        // A decision is taken only on a dossier under review, by a reviewer or an admin.
        if to.is_decided() {
            assert_eq!(from, Status::UnderReview, "{}", ctx());
            assert_ne!(step.party, Party::Applicant, "{}", ctx());
        }
        // Becoming editable again happens only at a reviewer's request.
        if to.is_editable() {
            assert_eq!(step.event, Event::RequestChanges, "{}", ctx());
        }
        // Only the applicant edits, and only in an editable state: the services call `can_edit` before any change.
        for party in Party::ALL {
            assert_eq!(
                can_edit(to, party),
                party == Party::Applicant && matches!(to, Status::Draft | Status::ChangesRequested),
                "{}",
                ctx()
            );
        }
    }

    #[test]
    fn names_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("UNDER-REVIEW"), Some(Status::UnderReview));
        assert_eq!(Status::parse("nope"), None);
    }
}
