//! Who among the people who sign in may act on a team's incidents and manage the team, decided on
//! plain values (docs/sign-in.md, "Teams and roles"): their roles in teams, whether they are an
//! admin, and the role a person holds in a team they are not a member of. query gathers these
//! from PostgreSQL and asks here; machine tokens are judged by their scopes alone, never here.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A member's role in a team; each grants what the ones before it grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads the team's incidents (every signed-in person reads every incident).
    Viewer,
    /// Also acknowledges, resolves, reopens and assigns the team's incidents.
    Responder,
    /// Also adds, changes and removes the team's members.
    Manager,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Responder, Role::Manager];

    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Responder => "responder",
            Role::Manager => "manager",
        }
    }

    /// The role named `name` as the API and the database spell it.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.name() == name)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The role a signed-in person holds in a team they are not a member of (`SIGN_IN_DEFAULT_ROLE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DefaultRole {
    /// `responder` while no team has any member, `viewer` from the first membership on: a fresh
    /// setup, or one upgraded from before roles, lets everyone who signs in act as they did,
    /// and adding the first member is what makes roles count.
    #[default]
    Automatic,
    /// This role, whatever the memberships.
    Fixed(Role),
}

impl DefaultRole {
    /// `SIGN_IN_DEFAULT_ROLE` as query and the notifier read it: `automatic`, `viewer` or
    /// `responder`.
    pub fn parse(value: &str) -> Result<DefaultRole, String> {
        match value.trim() {
            "automatic" => Ok(DefaultRole::Automatic),
            "viewer" => Ok(DefaultRole::Fixed(Role::Viewer)),
            "responder" => Ok(DefaultRole::Fixed(Role::Responder)),
            _ => Err("expected viewer, responder or automatic (a default role never makes anyone a manager)".into()),
        }
    }

    /// The role it gives, given whether any team has a member yet.
    pub fn role(self, any_memberships: bool) -> Role {
        match self {
            DefaultRole::Fixed(role) => role,
            DefaultRole::Automatic if any_memberships => Role::Viewer,
            DefaultRole::Automatic => Role::Responder,
        }
    }
}

/// A signed-in person as far as a decision needs them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Standing {
    pub is_admin: bool,
    /// Their role in each team they are a member of, by the team's slug.
    pub memberships: BTreeMap<String, Role>,
}

impl Standing {
    pub fn role_in(&self, team: &str) -> Option<Role> {
        self.memberships.get(team).copied()
    }

    fn responds_somewhere(&self) -> bool {
        self.memberships.values().any(|role| *role >= Role::Responder)
    }
}

/// What is known of the memberships beyond the person's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memberships {
    /// Whether the team in question has any member.
    pub team_has_members: bool,
    /// Whether any team has a member.
    pub any: bool,
}

/// Why a person may not do something to a team or its incidents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct Refusal {
    pub team: String,
    /// What they asked to do.
    pub deed: Deed,
    /// The least role that would do.
    pub needed: Role,
    /// Theirs in the team, if they are a member.
    pub held: Option<Role>,
}

/// What a person asked to do, for the refusal to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deed {
    ActOnIncident,
    ManageTeam,
    TakeShift,
}

impl Refusal {
    fn message(&self) -> String {
        let team = &self.team;
        let what = match self.deed {
            Deed::ManageTeam => format!("managing team `{team}` needs the manager role in it, or admin"),
            Deed::ActOnIncident => format!(
                "acting on an incident of team `{team}` needs the responder or manager role in that team, or admin"
            ),
            Deed::TakeShift => format!(
                "going on call in a schedule of team `{team}` needs the responder or manager role in that team, or admin"
            ),
        };
        match self.held {
            Some(role) => format!("{what}; you are a {role} there"),
            None => format!("{what}; you are not a member of it"),
        }
    }
}

/// Whether `person` may acknowledge, resolve, reopen or assign an incident of `team`.
///
/// An admin may. A member may as a responder or manager, not as a viewer (whatever the default
/// role: a viewer was made one on purpose). A person who is not a member may when the team has no
/// members at all and they respond for some other team (an incident nobody owns, `unowned`
/// included, is never out of every responder's reach), or when the default role is responder.
pub fn may_act_on_incident(
    person: &Standing,
    team: &str,
    memberships: Memberships,
    default_role: DefaultRole,
) -> Result<(), Refusal> {
    if person.is_admin {
        return Ok(());
    }
    let held = person.role_in(team);
    let allowed = match held {
        Some(role) => role >= Role::Responder,
        None => {
            (!memberships.team_has_members && person.responds_somewhere())
                || default_role.role(memberships.any) >= Role::Responder
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(Refusal { team: team.to_owned(), deed: Deed::ActOnIncident, needed: Role::Responder, held })
    }
}

/// Whether `person` may manage `team`: change its members (and, as they come, its schedules and
/// settings). Admins and the team's managers may; a default role never makes anyone a manager.
pub fn may_manage_team(person: &Standing, team: &str) -> Result<(), Refusal> {
    let held = person.role_in(team);
    if person.is_admin || held == Some(Role::Manager) {
        Ok(())
    } else {
        Err(Refusal { team: team.to_owned(), deed: Deed::ManageTeam, needed: Role::Manager, held })
    }
}

/// Whether `person` may put themselves on call in `team`'s schedules for a while: take a shift,
/// cover a colleague. Any responder of the team may, as in the on-call tools teams come from;
/// putting someone else on call is managing the team ([`may_manage_team`]). A default role does
/// not make anyone part of a team's rotation.
pub fn may_take_shift(person: &Standing, team: &str) -> Result<(), Refusal> {
    let held = person.role_in(team);
    if person.is_admin || held.is_some_and(|role| role >= Role::Responder) {
        Ok(())
    } else {
        Err(Refusal { team: team.to_owned(), deed: Deed::TakeShift, needed: Role::Responder, held })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member_of(pairs: &[(&str, Role)]) -> Standing {
        Standing {
            is_admin: false,
            memberships: pairs.iter().map(|(team, role)| ((*team).to_owned(), *role)).collect(),
        }
    }

    const TEAM_WITH_MEMBERS: Memberships = Memberships { team_has_members: true, any: true };
    const TEAM_WITHOUT_MEMBERS: Memberships = Memberships { team_has_members: false, any: true };
    const NOBODY_ANYWHERE: Memberships = Memberships { team_has_members: false, any: false };

    #[test]
    fn roles_are_ordered_and_spelt_as_stored() {
        assert!(Role::Viewer < Role::Responder && Role::Responder < Role::Manager);
        for role in Role::ALL {
            assert_eq!(Role::parse(role.name()), Some(role));
            assert_eq!(serde_json::to_value(role).ok(), Some(serde_json::Value::from(role.name())));
        }
        assert_eq!(Role::parse("admin"), None);
    }

    #[test]
    fn responders_and_managers_of_the_team_act_and_its_viewers_do_not() {
        let automatic = DefaultRole::Automatic;
        for role in [Role::Responder, Role::Manager] {
            assert_eq!(
                may_act_on_incident(&member_of(&[("payments", role)]), "payments", TEAM_WITH_MEMBERS, automatic),
                Ok(())
            );
        }
        let viewer = member_of(&[("payments", Role::Viewer)]);
        let refused = may_act_on_incident(&viewer, "payments", TEAM_WITH_MEMBERS, DefaultRole::Fixed(Role::Responder));
        assert_eq!(
            refused.map_err(|r| r.to_string()),
            Err(
                "acting on an incident of team `payments` needs the responder or manager role in that team, or admin; \
                 you are a viewer there"
                    .to_owned()
            ),
            "a viewer stays one, whatever the default role"
        );
    }

    #[test]
    fn a_responder_of_another_team_acts_only_where_nobody_is_a_member() {
        let web = member_of(&[("web", Role::Responder)]);
        let refused = may_act_on_incident(&web, "payments", TEAM_WITH_MEMBERS, DefaultRole::Automatic);
        assert_eq!(
            refused.as_ref().map_err(|r| (r.team.as_str(), r.needed, r.held)),
            Err(("payments", Role::Responder, None))
        );
        assert!(refused.map_err(|r| r.to_string()).is_err_and(|m| m.ends_with("you are not a member of it")));
        assert_eq!(may_act_on_incident(&web, "unowned", TEAM_WITHOUT_MEMBERS, DefaultRole::Automatic), Ok(()));
        let web_viewer = member_of(&[("web", Role::Viewer)]);
        assert!(may_act_on_incident(&web_viewer, "unowned", TEAM_WITHOUT_MEMBERS, DefaultRole::Automatic).is_err());
    }

    #[test]
    fn the_automatic_default_is_responder_until_the_first_membership() {
        let newcomer = Standing::default();
        assert_eq!(may_act_on_incident(&newcomer, "payments", NOBODY_ANYWHERE, DefaultRole::Automatic), Ok(()));
        assert!(may_act_on_incident(&newcomer, "payments", TEAM_WITHOUT_MEMBERS, DefaultRole::Automatic).is_err());
        assert!(may_act_on_incident(&newcomer, "payments", NOBODY_ANYWHERE, DefaultRole::Fixed(Role::Viewer)).is_err());
        assert_eq!(
            may_act_on_incident(&newcomer, "payments", TEAM_WITH_MEMBERS, DefaultRole::Fixed(Role::Responder)),
            Ok(())
        );
    }

    #[test]
    fn responders_of_the_team_go_on_call_themselves_and_viewers_and_outsiders_do_not() {
        for role in [Role::Responder, Role::Manager] {
            assert_eq!(may_take_shift(&member_of(&[("payments", role)]), "payments"), Ok(()));
        }
        assert_eq!(may_take_shift(&Standing { is_admin: true, memberships: BTreeMap::new() }, "payments"), Ok(()));
        let viewer = may_take_shift(&member_of(&[("payments", Role::Viewer)]), "payments");
        assert_eq!(
            viewer.map_err(|refusal| refusal.to_string()),
            Err("going on call in a schedule of team `payments` needs the responder or manager role in that team, \
                 or admin; you are a viewer there"
                .to_owned())
        );
        let outsider = may_take_shift(&member_of(&[("web", Role::Manager)]), "payments");
        assert!(outsider.is_err_and(|refusal| refusal.held.is_none()), "a manager elsewhere is not in this rotation");
        assert!(may_take_shift(&Standing::default(), "payments").is_err(), "no default role puts anyone on call");
    }

    #[test]
    fn admins_do_everything_and_only_managers_manage() {
        let admin = Standing { is_admin: true, memberships: BTreeMap::new() };
        assert_eq!(
            may_act_on_incident(&admin, "payments", TEAM_WITH_MEMBERS, DefaultRole::Fixed(Role::Viewer)),
            Ok(())
        );
        assert_eq!(may_manage_team(&admin, "payments"), Ok(()));
        assert_eq!(may_manage_team(&member_of(&[("payments", Role::Manager)]), "payments"), Ok(()));
        let responder = member_of(&[("payments", Role::Responder), ("web", Role::Manager)]);
        assert_eq!(
            may_manage_team(&responder, "payments").map_err(|r| r.to_string()),
            Err("managing team `payments` needs the manager role in it, or admin; you are a responder there".to_owned())
        );
    }
}
