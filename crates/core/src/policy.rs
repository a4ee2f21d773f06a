//! Who may do what: the seed's permission matrix, decided in one place. Every handler asks
//! [`allows`]; nothing else compares roles.
//!
//! | action               | Owner | Admin | Member | Viewer |
//! |----------------------|-------|-------|--------|--------|
//! | view workflows       | yes   | yes   | yes    | yes    |
//! | create workflows     | yes   | yes   | yes    | no     |
//! | edit workflows       | yes   | yes   | own    | no     |
//! | delete workflows     | yes   | yes   | own    | no     |
//! | manage integrations  | yes   | yes   | no     | no     |
//! | invite users         | yes   | yes   | no     | no     |
//! | manage billing       | yes   | no    | no     | no     |
//! | delete organization  | yes   | no    | no     | no     |
//!
//! "own": Members edit and delete only the workflows they created. Beyond the seed's rows:
//! reading the audit log, managing API keys and changing the organization's settings (such as
//! requiring two-factor sign-in) are for Owners and Admins; handing over ownership is for the
//! Owner, like deleting the organization.

use crate::id::UserId;
use crate::organization::Role;

/// Something a user may try to do inside an organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    ViewWorkflows,
    CreateWorkflow,
    /// Editing (saving a version, activating, running) a workflow created by `creator`.
    EditWorkflow {
        creator: Option<UserId>,
    },
    DeleteWorkflow {
        creator: Option<UserId>,
    },
    /// Credentials and connections to services.
    ManageIntegrations,
    /// Inviting people, changing roles, removing members.
    InviteUsers,
    ManageBilling,
    DeleteOrganization,
    /// Downloading everything of the organization (workflows, runs, members, audit log).
    ExportOrganization,
    /// Reading the feedback people sent and how the organization uses Baton.
    ViewInsights,
    ViewAuditLog,
    /// Creating, listing and revoking API keys.
    ManageApiKeys,
    /// The organization's name and security settings.
    ManageSettings,
    TransferOwnership,
}

/// Whether `actor` (the user acting, or the creator of the API key acting), holding `role`,
/// may do `action`.
pub fn allows(role: Role, actor: Option<UserId>, action: Action) -> bool {
    use Action::*;
    use Role::*;
    match (role, action) {
        (_, ViewWorkflows) => true,
        (Owner | Admin | Member, CreateWorkflow) => true,
        (Owner | Admin, EditWorkflow { .. } | DeleteWorkflow { .. }) => true,
        (Member, EditWorkflow { creator } | DeleteWorkflow { creator }) => {
            creator.is_some() && creator == actor
        }
        (
            Owner | Admin,
            ManageIntegrations | InviteUsers | ViewAuditLog | ManageApiKeys | ManageSettings
            | ViewInsights,
        ) => true,
        (Owner, ManageBilling | DeleteOrganization | ExportOrganization | TransferOwnership) => {
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed's matrix, row by row: Owner, Admin, Member (own / other's), Viewer.
    #[test]
    fn the_matrix_is_exactly_the_seeds() {
        let me = UserId::new();
        let someone_else = Some(UserId::new());
        let mine = Some(me);
        let rows: [(&str, Action, Action, [bool; 4]); 8] = [
            (
                "view workflows",
                Action::ViewWorkflows,
                Action::ViewWorkflows,
                [true, true, true, true],
            ),
            (
                "create workflows",
                Action::CreateWorkflow,
                Action::CreateWorkflow,
                [true, true, true, false],
            ),
            (
                "edit workflows",
                Action::EditWorkflow { creator: mine },
                Action::EditWorkflow {
                    creator: someone_else,
                },
                [true, true, true, false],
            ),
            (
                "delete workflows",
                Action::DeleteWorkflow { creator: mine },
                Action::DeleteWorkflow {
                    creator: someone_else,
                },
                [true, true, true, false],
            ),
            (
                "manage integrations",
                Action::ManageIntegrations,
                Action::ManageIntegrations,
                [true, true, false, false],
            ),
            (
                "invite users",
                Action::InviteUsers,
                Action::InviteUsers,
                [true, true, false, false],
            ),
            (
                "manage billing",
                Action::ManageBilling,
                Action::ManageBilling,
                [true, false, false, false],
            ),
            (
                "delete organization",
                Action::DeleteOrganization,
                Action::DeleteOrganization,
                [true, false, false, false],
            ),
        ];
        for (name, own, others, expected) in rows {
            for (role, allowed) in Role::ALL.into_iter().zip(expected) {
                assert_eq!(
                    allows(role, Some(me), own),
                    allowed,
                    "{role} / {name} (own)"
                );
            }
            // Only a Member's edit and delete depend on who created the workflow.
            let member_on_others = matches!(
                others,
                Action::EditWorkflow { .. } | Action::DeleteWorkflow { .. }
            );
            for (role, allowed) in Role::ALL.into_iter().zip(expected) {
                let allowed = if role == Role::Member && member_on_others {
                    false
                } else {
                    allowed
                };
                assert_eq!(
                    allows(role, Some(me), others),
                    allowed,
                    "{role} / {name} (someone else's)"
                );
            }
        }
    }

    #[test]
    fn only_owners_and_admins_read_the_audit_log() {
        let me = UserId::new();
        let allowed: Vec<bool> = Role::ALL
            .into_iter()
            .map(|role| {
                allows(role, Some(me), Action::ViewAuditLog)
                    && allows(role, Some(me), Action::ManageApiKeys)
                    && allows(role, Some(me), Action::ManageSettings)
            })
            .collect();
        assert_eq!(allowed, vec![true, true, false, false]);
    }

    #[test]
    fn only_the_owner_hands_over_ownership() {
        let me = UserId::new();
        let allowed: Vec<bool> = Role::ALL
            .into_iter()
            .map(|role| allows(role, Some(me), Action::TransferOwnership))
            .collect();
        assert_eq!(allowed, vec![true, false, false, false]);
    }

    #[test]
    fn a_member_cannot_edit_a_workflow_nobody_is_recorded_as_creating() {
        let me = UserId::new();
        assert!(!allows(
            Role::Member,
            Some(me),
            Action::EditWorkflow { creator: None }
        ));
        assert!(allows(
            Role::Admin,
            Some(me),
            Action::EditWorkflow { creator: None }
        ));
    }
}
