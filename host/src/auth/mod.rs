//! Authentication and authorization: password hashing (argon2id), secret tokens, the signed-in principal
//! and the permission checks every route calls.

pub mod login;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::domain::{Role, Tenant, User, UserStatus};

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 10;

fn argon2() -> Argon2<'static> {
    // OWASP's argon2id baseline: 19 MiB, 2 iterations, 1 lane.
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(19 * 1024, 2, 1, None).expect("valid argon2 params"))
}

/// Hashes a password as an argon2id PHC string. CPU-heavy: call from a blocking task.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing cannot fail with valid params")
        .to_string()
}

/// Checks a password against a stored PHC string. CPU-heavy: call from a blocking task.
pub fn verify_password(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash to verify against when the user does not exist, so timing does not reveal which emails are known.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("portico-dummy-password"))
}

/// Why a new password is refused, for the form field.
pub fn check_new_password(password: &str, confirm: &str) -> Result<(), &'static str> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err("use at least 10 characters");
    }
    if password.len() > 1024 {
        return Err("use at most 1024 bytes");
    }
    if password != confirm {
        return Err("the two passwords differ");
    }
    Ok(())
}

/// A new random secret (256 bits, URL-safe base64) for sessions and tokens.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of a secret: its SHA-256, hex. Secrets are high-entropy, so no salt is needed.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The signed-in user of a request, with the tenant they belong to.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub tenant: Tenant,
    /// How the request was authenticated.
    pub via: AuthVia,
}

/// Where a principal's credentials came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthVia {
    Session,
    ApiToken,
}

/// Why a principal may not do something.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("you do not have permission to do that")]
pub struct Denied;

impl Principal {
    pub fn role(&self) -> Role {
        self.user.role
    }

    pub fn is_vendor_admin(&self) -> bool {
        self.user.role == Role::VendorAdmin
    }

    pub fn is_vendor_staff(&self) -> bool {
        self.user.role.is_vendor()
    }

    /// Vendor admins only.
    pub fn require_vendor_admin(&self) -> Result<(), Denied> {
        if self.is_vendor_admin() { Ok(()) } else { Err(Denied) }
    }

    /// Vendor admins and channel managers.
    pub fn require_vendor_staff(&self) -> Result<(), Denied> {
        if self.is_vendor_staff() { Ok(()) } else { Err(Denied) }
    }

    /// Partner admins (of their own org).
    pub fn require_partner_admin(&self) -> Result<(), Denied> {
        if self.user.role == Role::PartnerAdmin { Ok(()) } else { Err(Denied) }
    }

    /// May this principal manage the users and profile of `org_id`? Vendor admins may manage any org of the
    /// tenant; a partner admin only their own.
    pub fn may_manage_org(&self, org_id: &str) -> bool {
        self.is_vendor_admin() || (self.user.role == Role::PartnerAdmin && self.user.org_id == org_id)
    }

    /// May this principal see `org_id`? Vendor staff see every org; partners only their own.
    pub fn may_view_org(&self, org_id: &str) -> bool {
        self.is_vendor_staff() || self.user.org_id == org_id
    }

    /// May this principal give `role` to someone? Partner admins hand out partner roles only.
    pub fn may_grant_role(&self, role: Role) -> bool {
        match self.user.role {
            Role::VendorAdmin => true,
            Role::PartnerAdmin => !role.is_vendor(),
            _ => false,
        }
    }
}

/// Whether an account may sign in.
pub fn may_sign_in(user: &User) -> bool {
    user.status == UserStatus::Active
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_round_trips_and_rejects_wrong_password() {
        let h = hash_password("correct horse battery");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse battery"));
        assert!(!verify_password(&h, "wrong horse battery"));
        assert!(!verify_password("not a phc string", "x"));
    }

    #[test]
    fn new_password_rules_name_the_problem() {
        assert_eq!(check_new_password("short", "short"), Err("use at least 10 characters"));
        assert_eq!(check_new_password("long enough pw", "different pw!!"), Err("the two passwords differ"));
        assert_eq!(check_new_password("long enough pw", "long enough pw"), Ok(()));
    }

    #[test]
    fn secrets_are_unique_and_hash_stably() {
        let a = new_secret();
        assert_ne!(a, new_secret());
        assert_eq!(hash_secret(&a), hash_secret(&a));
        assert_eq!(hash_secret(&a).len(), 64);
    }
}
