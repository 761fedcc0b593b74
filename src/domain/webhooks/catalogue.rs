//! The event catalogue (SPEC §4): Logto's event names, grouped as Logto's console groups them,
//! and hookd's own operational events (`operational.rs`), which only hookd emits.

/// One event a hook can subscribe to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CatalogueEvent {
    pub name: &'static str,
    pub group: &'static str,
    pub description: &'static str,
}

const fn event(name: &'static str, group: &'static str, description: &'static str) -> CatalogueEvent {
    CatalogueEvent {
        name,
        group,
        description,
    }
}

pub const CATALOGUE: [CatalogueEvent; 31] = [
    event(
        "PostRegister",
        "User interaction",
        "A user finished signing up (interaction `Register`).",
    ),
    event(
        "PostSignIn",
        "User interaction",
        "A user finished signing in (interaction `SignIn`).",
    ),
    event(
        "PostResetPassword",
        "User interaction",
        "A user reset a forgotten password (interaction `ForgotPassword`).",
    ),
    event(
        "User.Created",
        "User",
        "A user was created, by an admin or by registration.",
    ),
    event(
        "User.Deleted",
        "User",
        "A user was deleted; `data` is the user as it was.",
    ),
    event(
        "User.Data.Updated",
        "User",
        "A user's profile, custom data, password or identifiers changed.",
    ),
    event(
        "User.SuspensionStatus.Updated",
        "User",
        "A user was suspended or reactivated.",
    ),
    event(
        "User.Roles.Updated",
        "User",
        "Roles were assigned to or removed from a user (hookd's own event).",
    ),
    event("Role.Created", "Role", "A role was created."),
    event("Role.Deleted", "Role", "A role was deleted."),
    event(
        "Role.Data.Updated",
        "Role",
        "A role's name, description or default flag changed.",
    ),
    event(
        "Role.Scopes.Updated",
        "Role",
        "Permissions were added to or removed from a role.",
    ),
    event(
        "Scope.Created",
        "Permission",
        "A permission (API resource scope) was created.",
    ),
    event("Scope.Deleted", "Permission", "A permission was deleted."),
    event(
        "Scope.Data.Updated",
        "Permission",
        "A permission's name or description changed.",
    ),
    event("Organization.Created", "Organization", "An organization was created."),
    event("Organization.Deleted", "Organization", "An organization was deleted."),
    event(
        "Organization.Data.Updated",
        "Organization",
        "An organization's name, description or custom data changed.",
    ),
    event(
        "Organization.Membership.Updated",
        "Organization",
        "Users or applications joined or left an organization.",
    ),
    event(
        "OrganizationRole.Created",
        "Organization role",
        "An organization role was created.",
    ),
    event(
        "OrganizationRole.Deleted",
        "Organization role",
        "An organization role was deleted.",
    ),
    event(
        "OrganizationRole.Data.Updated",
        "Organization role",
        "An organization role's name or description changed.",
    ),
    event(
        "OrganizationRole.Scopes.Updated",
        "Organization role",
        "Organization permissions were added to or removed from an organization role.",
    ),
    event(
        "OrganizationScope.Created",
        "Organization permission",
        "An organization permission was created.",
    ),
    event(
        "OrganizationScope.Deleted",
        "Organization permission",
        "An organization permission was deleted.",
    ),
    event(
        "OrganizationScope.Data.Updated",
        "Organization permission",
        "An organization permission's name or description changed.",
    ),
    event(
        "Identifier.Lockout",
        "Security",
        "Too many failed sign-ins locked an identifier (username or email).",
    ),
    event(
        "Hook.Disabled",
        OPERATIONAL,
        "A hook was disabled: its receiver answered 410 Gone, kept failing, or a user turned it off.",
    ),
    event("Hook.Enabled", OPERATIONAL, "A disabled hook was turned on again."),
    event(
        "Delivery.Exhausted",
        OPERATIONAL,
        "A delivery failed for good: its retries are used up, or its receiver answered 410 Gone.",
    ),
    event(
        "Delivery.Recovered",
        OPERATIONAL,
        "A delivery succeeded after failed attempts.",
    ),
];

/// The group of the events hookd emits about its own hooks and deliveries.
pub const OPERATIONAL: &str = "Operational";

pub fn find(name: &str) -> Option<&'static CatalogueEvent> {
    CATALOGUE.iter().find(|e| e.name == name)
}

/// Whether `name` is one of hookd's operational events, which producers may not emit.
pub fn is_operational(name: &str) -> bool {
    find(name).is_some_and(|e| e.group == OPERATIONAL)
}
