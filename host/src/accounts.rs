//! Account flows that span storage, hashing and mail: inviting users and resetting passwords with
//! single-use, expiring tokens.

use crate::auth::{Principal, hash_secret, new_secret};
use crate::domain::{Role, User, UserStatus, now_millis};
use crate::mail::{MailError, Mailer};
use crate::storage::{AuthTokenPurpose, NewUser, StorageError, TenantScope};

/// How long an invitation link works.
pub const INVITE_TTL_MS: i64 = 7 * 24 * 3600 * 1000;
/// How long a password-reset link works.
pub const RESET_TTL_MS: i64 = 3600 * 1000;

/// Why an account flow failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("not found")]
    NotFound,
    #[error("you do not have permission to do that")]
    Denied,
    #[error("{message}")]
    Invalid { field: &'static str, message: String },
    #[error(transparent)]
    Storage(StorageError),
    #[error(transparent)]
    Mail(#[from] MailError),
}

impl From<StorageError> for AccountError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound => AccountError::NotFound,
            other => AccountError::Storage(other),
        }
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> AccountError {
    AccountError::Invalid { field, message: message.into() }
}

/// Who is invited, to which org, with which role.
#[derive(Debug, Clone)]
pub struct Invitation {
    pub org_id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
}

/// Creates an invited user and mails them a link (`{base_url}/invite/{token}`) to choose a password.
pub async fn invite(
    scope: TenantScope<'_>,
    mailer: &Mailer,
    portal_name: &str,
    base_url: &str,
    inviter: &str,
    inv: &Invitation,
) -> Result<User, AccountError> {
    let user = scope
        .create_user(&NewUser {
            org_id: inv.org_id.clone(),
            email: inv.email.clone(),
            name: inv.name.clone(),
            role: inv.role,
            status: UserStatus::Invited,
            password_hash: None,
        })
        .await?;
    send_invitation(scope, mailer, portal_name, base_url, inviter, &user).await?;
    Ok(user)
}

/// (Re)sends an invitation to an invited user; the previous link stops working.
pub async fn send_invitation(
    scope: TenantScope<'_>,
    mailer: &Mailer,
    portal_name: &str,
    base_url: &str,
    inviter: &str,
    user: &User,
) -> Result<(), AccountError> {
    let token = new_secret();
    scope
        .create_auth_token(&user.id, AuthTokenPurpose::Invite, &hash_secret(&token), now_millis() + INVITE_TTL_MS)
        .await?;
    let body = format!(
        "Hello {name},\n\n{inviter} invited you to {portal_name} as {org}.\n\n\
         Choose your password here (the link works once, for 7 days):\n{base_url}/invite/{token}\n",
        name = user.name,
        org = user.org_name,
    );
    mailer.send(scope, &user.email, &format!("You are invited to {portal_name}"), &body, Some(&token)).await?;
    Ok(())
}

/// Sends a new invitation to a user `actor` manages who has not accepted theirs yet; the old link stops working.
pub async fn resend_invitation(
    scope: TenantScope<'_>,
    mailer: &Mailer,
    portal_name: &str,
    base_url: &str,
    actor: &Principal,
    user_id: &str,
) -> Result<User, AccountError> {
    let user = managed_user(scope, actor, user_id).await?;
    if user.status != UserStatus::Invited {
        return Err(invalid("status", "only invited users get invitations"));
    }
    send_invitation(scope, mailer, portal_name, base_url, &actor.user.name, &user).await?;
    scope.audit(Some(&actor.user.id), "user.invitation_resent", &user.email, "").await?;
    Ok(user)
}

/// Mails a reset link to an active account. Unknown or inactive addresses get nothing, and the caller
/// answers the same either way, so the form does not reveal who has an account.
pub async fn request_password_reset(
    scope: TenantScope<'_>,
    mailer: &Mailer,
    portal_name: &str,
    base_url: &str,
    email: &str,
) -> Result<(), AccountError> {
    let Some(user) = scope.user_by_email(email).await?.filter(|u| u.status == UserStatus::Active) else {
        return Ok(());
    };
    let token = new_secret();
    scope
        .create_auth_token(&user.id, AuthTokenPurpose::Reset, &hash_secret(&token), now_millis() + RESET_TTL_MS)
        .await?;
    let body = format!(
        "Hello {name},\n\nSomeone asked to reset your {portal_name} password. If it was you, choose a new one here \
         (the link works once, for one hour):\n{base_url}/reset/{token}\n\nIf it was not you, ignore this mail.\n",
        name = user.name,
    );
    mailer.send(scope, &user.email, &format!("Reset your {portal_name} password"), &body, Some(&token)).await?;
    Ok(())
}

/// Checks and sends an invitation on behalf of `actor`: the org must be one they manage, the role one they
/// may grant and one that fits the org (vendor roles in the vendor org, partner roles in partner orgs).
pub async fn invite_as(
    scope: TenantScope<'_>,
    mailer: &Mailer,
    portal_name: &str,
    base_url: &str,
    actor: &Principal,
    inv: &Invitation,
) -> Result<User, AccountError> {
    let email = crate::storage::normalize_email(&inv.email);
    if !valid_email(&email) {
        return Err(invalid("email", "enter a valid email address"));
    }
    if inv.name.trim().is_empty() {
        return Err(invalid("name", "enter the person's name"));
    }
    if inv.name.chars().count() > 200 {
        return Err(invalid("name", "use at most 200 characters"));
    }
    if !actor.may_manage_org(&inv.org_id) {
        return Err(if actor.may_view_org(&inv.org_id) {
            AccountError::Denied
        } else {
            invalid("org_id", "choose an organisation you manage")
        });
    }
    let org = scope.org(&inv.org_id).await?.ok_or_else(|| invalid("org_id", "choose an organisation"))?;
    if !actor.may_grant_role(inv.role) {
        return Err(invalid("role", "you cannot give that role"));
    }
    if inv.role.org_kind() != org.kind {
        return Err(invalid("role", format!("a {} org cannot have the role {}", org.kind.as_str(), inv.role.label())));
    }
    if scope.user_by_email(&email).await?.is_some() {
        return Err(invalid("email", "a user with this email already exists"));
    }
    let inv = Invitation { email, ..inv.clone() };
    let user = invite(scope, mailer, portal_name, base_url, &actor.user.name, &inv).await?;
    scope.audit(Some(&actor.user.id), "user.invited", &user.email, inv.role.as_str()).await?;
    Ok(user)
}

/// Changes a user's role, within the rules of [`invite_as`]; the last active vendor admin keeps the role.
pub async fn change_role(
    scope: TenantScope<'_>,
    actor: &Principal,
    user_id: &str,
    role: Role,
) -> Result<User, AccountError> {
    let target = managed_user(scope, actor, user_id).await?;
    if !actor.may_grant_role(role) {
        return Err(invalid("role", "you cannot give that role"));
    }
    if role.org_kind() != target.role.org_kind() {
        return Err(invalid("role", "that role does not fit the user's organisation"));
    }
    if target.role == Role::VendorAdmin && role != Role::VendorAdmin && scope.count_active_vendor_admins().await? <= 1 {
        return Err(invalid("role", "the portal needs at least one active vendor admin"));
    }
    // A partner's team keeps someone who can manage it; the vendor's admins may still take it away (a partner
    // that leaves the programme, say).
    if !actor.is_vendor_staff()
        && target.role == Role::PartnerAdmin
        && role != Role::PartnerAdmin
        && scope.count_active_partner_admins(&target.org_id).await? <= 1
    {
        return Err(invalid("role", "your organisation needs at least one active partner admin"));
    }
    scope.set_user_role(&target.id, role).await?;
    scope
        .audit(
            Some(&actor.user.id),
            "user.role_changed",
            &target.email,
            &format!("{} -> {}", target.role.as_str(), role.as_str()),
        )
        .await?;
    scope.user(&target.id).await?.ok_or(AccountError::NotFound)
}

/// Deactivates (ending sessions and tokens) or reactivates a user. Nobody deactivates themselves.
pub async fn change_status(
    scope: TenantScope<'_>,
    actor: &Principal,
    user_id: &str,
    status: UserStatus,
) -> Result<User, AccountError> {
    let target = managed_user(scope, actor, user_id).await?;
    if target.id == actor.user.id {
        return Err(invalid("status", "you cannot change your own account's status"));
    }
    let new = match (target.status, status) {
        (_, UserStatus::Deactivated) => UserStatus::Deactivated,
        // Reactivating someone who never accepted their invitation leaves them invited.
        (UserStatus::Deactivated, UserStatus::Active) => {
            if scope.password_hash(&target.id).await?.is_some() {
                UserStatus::Active
            } else {
                UserStatus::Invited
            }
        }
        (current, _) => current,
    };
    if target.role == Role::VendorAdmin
        && new == UserStatus::Deactivated
        && scope.count_active_vendor_admins().await? <= 1
    {
        return Err(invalid("status", "the portal needs at least one active vendor admin"));
    }
    scope.set_user_status(&target.id, new).await?;
    scope.audit(Some(&actor.user.id), &format!("user.{}", new.as_str()), &target.email, "").await?;
    scope.user(&target.id).await?.ok_or(AccountError::NotFound)
}

/// A user the actor may manage; others are "not found", so their existence does not leak across orgs.
async fn managed_user(scope: TenantScope<'_>, actor: &Principal, user_id: &str) -> Result<User, AccountError> {
    let target = scope.user(user_id).await?.ok_or(AccountError::NotFound)?;
    if !actor.may_manage_org(&target.org_id) {
        return Err(if may_see_user(actor, &target) { AccountError::Denied } else { AccountError::NotFound });
    }
    Ok(target)
}

/// Whether `actor` may know that `target` exists: vendor staff see every user, anyone sees themselves. A user
/// the actor may not manage is "forbidden" if so, and "not found" otherwise (a partner cannot probe for others).
pub fn may_see_user(actor: &Principal, target: &User) -> bool {
    actor.is_vendor_staff() || actor.user.id == target.id || actor.may_manage_org(&target.org_id)
}

/// A plausible email address: one `@`, something on each side, a dot in the domain, no spaces.
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.contains(char::is_whitespace)
        && !domain.contains('@')
        && email.len() <= 254
}

impl From<AccountError> for crate::http::HttpError {
    fn from(e: AccountError) -> Self {
        use crate::http::HttpError;
        match e {
            AccountError::NotFound => HttpError::NotFound,
            AccountError::Denied => HttpError::Forbidden,
            AccountError::Invalid { field, message } => HttpError::invalid(field, message),
            AccountError::Storage(s) => s.into(),
            AccountError::Mail(m) => m.into(),
        }
    }
}
