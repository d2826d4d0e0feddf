//! Signing in with email and password, throttled per email and per client address, shared by the login
//! form and `POST /api/v1/tokens`.

use std::net::IpAddr;

use crate::auth::{dummy_hash, may_sign_in, verify_password};
use crate::config::Config;
use crate::domain::{User, now_millis};
use crate::storage::{StorageError, TenantScope};

/// Why a sign-in failed. Wrong email and wrong password are deliberately the same error.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the email or password is wrong")]
    Invalid,
    #[error("too many failed attempts; try again in {0} seconds")]
    Throttled(i64),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Checks credentials and throttling. On success clears the email's failures and records the login.
pub async fn authenticate(
    config: &Config,
    scope: TenantScope<'_>,
    email: &str,
    password: &str,
    ip: Option<IpAddr>,
) -> Result<User, LoginError> {
    let email = crate::storage::normalize_email(email);
    let keys = throttle_keys(&email, ip);
    let now = now_millis();
    for (key, _) in &keys {
        if let Some(until) = scope.throttle_locked_until(key).await? {
            return Err(LoginError::Throttled(secs_until(until, now)));
        }
    }
    let user = scope.user_by_email(&email).await?;
    let hash = match &user {
        Some(u) => scope.password_hash(&u.id).await?,
        None => None,
    };
    let candidate = hash.clone().unwrap_or_else(|| dummy_hash().to_string());
    let pw = password.to_string();
    let ok = tokio::task::spawn_blocking(move || verify_password(&candidate, &pw)).await.unwrap_or(false);
    match user {
        Some(u) if ok && hash.is_some() && may_sign_in(&u) => {
            scope.clear_login_failures(&keys[0].0).await?;
            scope.touch_login(&u).await?;
            Ok(u)
        }
        _ => {
            let window_ms = config.throttle_window_secs * 1000;
            let mut locked_until = 0;
            for (key, factor) in &keys {
                let s = scope.record_login_failure(key, config.throttle_max_failures * factor, window_ms).await?;
                locked_until = locked_until.max(s.locked_until);
            }
            if locked_until > now {
                tracing::warn!(tenant = scope.tenant_id(), "login throttled after repeated failures");
                return Err(LoginError::Throttled(secs_until(locked_until, now)));
            }
            Err(LoginError::Invalid)
        }
    }
}

/// Per-email key (the configured limit) and per-address key (four times it, so one office behind a NAT
/// is not locked out by one person).
fn throttle_keys(email: &str, ip: Option<IpAddr>) -> Vec<(String, i64)> {
    let mut keys = vec![(format!("email:{email}"), 1)];
    if let Some(ip) = ip {
        keys.push((format!("ip:{ip}"), 4));
    }
    keys
}

fn secs_until(until: i64, now: i64) -> i64 {
    ((until - now) / 1000).max(1)
}
