//! Plugin secrets at rest: AES-256-GCM under a key from configuration (`secrets_key`) or, when none is set, one
//! generated on first start into `{data_dir}/secrets.key` (mode 0600). Each value is sealed with a fresh nonce and
//! bound to its (tenant, plugin, name), so a sealed value cannot be moved to another row; what is stored is
//! `v1:{key id}:{base64(nonce ‖ ciphertext)}`, the key id being the first bytes of the key's SHA-256, so that
//! `portico secrets rotate` can re-seal every value under a new key while old keys still open what they sealed.
//! Replicas must share the key: set `secrets_key` (or `PORTICO_SECRETS_KEY`) to the same value on each.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD_NO_PAD;

/// Why sealing or opening failed. Nothing of a secret's value is in a message.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("secrets key: {0}")]
    Key(String),
    #[error("a stored secret was sealed with key {0}, which this portal does not have")]
    UnknownKey(String),
    #[error("a stored secret does not open: it was changed, moved, or sealed with another key")]
    Corrupt,
}

/// The keys secrets are sealed with: the first seals, all open.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<(String, Aes256Gcm)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("key_ids", &self.keys.iter().map(|(id, _)| id).collect::<Vec<_>>()).finish()
    }
}

impl Keyring {
    /// A keyring from base64 keys of 32 bytes, the sealing key first.
    pub fn from_keys(keys: &[SecretString]) -> Result<Self, SecretsError> {
        if keys.is_empty() {
            return Err(SecretsError::Key("no key".into()));
        }
        let keys = keys
            .iter()
            .map(|k| {
                let bytes = B64
                    .decode(k.expose_secret().trim().trim_end_matches('='))
                    .map_err(|_| SecretsError::Key("a key is not base64".into()))?;
                if bytes.len() != 32 {
                    return Err(SecretsError::Key("a key must be 32 bytes (44 characters of base64)".into()));
                }
                let id = hex::encode(&Sha256::digest(&bytes)[..4]);
                let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| SecretsError::Key("bad key".into()))?;
                Ok((id, cipher))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Keyring { keys })
    }

    /// The configured keys, or those of `{data_dir}/secrets.key` (one per line, newest first), created with a new
    /// random key on first start.
    pub fn load(
        configured: Option<&SecretString>,
        old: &[SecretString],
        data_dir: &Path,
    ) -> Result<Self, SecretsError> {
        if let Some(key) = configured {
            let mut keys = vec![key.clone()];
            keys.extend(old.iter().cloned());
            return Self::from_keys(&keys);
        }
        let path = data_dir.join("secrets.key");
        if !path.exists() {
            write_key_file(&path, &[new_key()])?;
        }
        Self::from_keys(&read_key_file(&path)?)
    }

    /// The id of the sealing key.
    pub fn current_id(&self) -> &str {
        &self.keys[0].0
    }

    /// Seals `value` for the row (`tenant`, `plugin`, `name`).
    pub fn seal(&self, tenant: &str, plugin: &str, name: &str, value: &str) -> String {
        let (id, cipher) = &self.keys[0];
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let aad = aad(tenant, plugin, name);
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: value.as_bytes(), aad: aad.as_bytes() })
            .expect("AES-GCM seals any message under 64 GiB");
        let mut out = nonce.to_vec();
        out.extend(sealed);
        format!("v1:{id}:{}", B64.encode(out))
    }

    /// Opens what [`Keyring::seal`] sealed for the same row.
    pub fn open(&self, tenant: &str, plugin: &str, name: &str, stored: &str) -> Result<String, SecretsError> {
        let mut parts = stored.splitn(3, ':');
        let (Some("v1"), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(SecretsError::Corrupt);
        };
        let (_, cipher) =
            self.keys.iter().find(|(k, _)| k == id).ok_or_else(|| SecretsError::UnknownKey(id.to_string()))?;
        let bytes = B64.decode(body).map_err(|_| SecretsError::Corrupt)?;
        if bytes.len() < 12 {
            return Err(SecretsError::Corrupt);
        }
        let (nonce, sealed) = bytes.split_at(12);
        let aad = aad(tenant, plugin, name);
        let plain = cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: aad.as_bytes() })
            .map_err(|_| SecretsError::Corrupt)?;
        String::from_utf8(plain).map_err(|_| SecretsError::Corrupt)
    }

    /// Whether a stored value was sealed with the current key (and so needs no re-sealing in a rotation).
    pub fn is_current(&self, stored: &str) -> bool {
        stored.split(':').nth(1) == Some(self.current_id())
    }
}

/// A new random key, base64.
pub fn new_key() -> SecretString {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    SecretString::from(base64::engine::general_purpose::STANDARD.encode(key))
}

/// Reads a key file: one base64 key per line, newest first.
pub fn read_key_file(path: &Path) -> Result<Vec<SecretString>, SecretsError> {
    let text = std::fs::read_to_string(path).map_err(|e| SecretsError::Key(format!("{}: {e}", path.display())))?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| SecretString::from(l.to_string())).collect())
}

/// Writes a key file readable by its owner only, atomically.
pub fn write_key_file(path: &Path, keys: &[SecretString]) -> Result<(), SecretsError> {
    use std::io::Write;
    let err = |e: std::io::Error| SecretsError::Key(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension("key.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(err)?;
    for k in keys {
        writeln!(file, "{}", k.expose_secret()).map_err(err)?;
    }
    file.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

fn aad(tenant: &str, plugin: &str, name: &str) -> String {
    format!("portico-secret:{tenant}/{plugin}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_for_its_row_only() {
        let ring = Keyring::from_keys(&[new_key()]).unwrap();
        let sealed = ring.seal("t", "crm", "token", "s3cr3t-value");
        assert!(!sealed.contains("s3cr3t"));
        assert_eq!(ring.open("t", "crm", "token", &sealed).unwrap(), "s3cr3t-value");
        assert!(matches!(ring.open("t", "crm", "other", &sealed), Err(SecretsError::Corrupt)), "moved to another row");
        assert!(matches!(ring.open("t2", "crm", "token", &sealed), Err(SecretsError::Corrupt)), "another tenant");
        assert_ne!(sealed, ring.seal("t", "crm", "token", "s3cr3t-value"), "a fresh nonce each time");
        let other = Keyring::from_keys(&[new_key()]).unwrap();
        assert!(matches!(other.open("t", "crm", "token", &sealed), Err(SecretsError::UnknownKey(_))));
    }

    #[test]
    fn old_keys_open_what_they_sealed_and_the_newest_seals() {
        let (old, new) = (new_key(), new_key());
        let before = Keyring::from_keys(std::slice::from_ref(&old)).unwrap();
        let sealed = before.seal("t", "p", "n", "v");
        let both = Keyring::from_keys(&[new, old]).unwrap();
        assert!(!both.is_current(&sealed));
        assert_eq!(both.open("t", "p", "n", &sealed).unwrap(), "v");
        assert!(both.is_current(&both.seal("t", "p", "n", "v")));
    }

    #[test]
    fn keys_are_checked_and_debug_output_shows_no_key() {
        assert!(Keyring::from_keys(&[SecretString::from("short".to_string())]).is_err());
        let ring = Keyring::from_keys(&[new_key()]).unwrap();
        assert!(format!("{ring:?}").contains("key_ids"));
    }
}
