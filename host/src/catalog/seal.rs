//! Secrets at rest: every source, endpoint and transformation created over
//! the API is stored sealed with XChaCha20-Poly1305 (RustCrypto), so no
//! credential is ever on disk in clear. The key comes from `[server]
//! secret_key` (64 hex digits or base64 of 32 bytes, usually
//! `"${HOOKWASM_SECRET_KEY}"`); without one, a key file is generated,
//! owner-only, in the data directory, with a warning saying how to supply
//! one (a key beside the data protects a copy of the database, not the
//! machine).

use std::io::Write as _;
use std::path::Path;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, OsRng};
use chacha20poly1305::{AeadCore, XChaCha20Poly1305, XNonce};

/// The first byte of every sealed value: the format, so it can change.
const FORMAT: u8 = 1;
const NONCE_LEN: usize = 24;
pub const KEY_FILE: &str = "secret.key";

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("secret_key must be 32 bytes as 64 hex digits or base64")]
    BadKey,
    #[error("{0}")]
    KeyFile(String),
    #[error("a stored record cannot be opened: it was sealed with another key, or is damaged")]
    Open,
}

/// Seals and opens stored records.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<key>)")
    }
}

impl Sealer {
    /// From a configured key (hex or base64 of 32 bytes).
    pub fn from_text(text: &str) -> Result<Sealer, SealError> {
        let text = text.trim();
        let key = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| SealError::BadKey)?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| SealError::BadKey)?
        };
        Sealer::from_bytes(&key)
    }

    fn from_bytes(key: &[u8]) -> Result<Sealer, SealError> {
        let cipher = XChaCha20Poly1305::new_from_slice(key).map_err(|_| SealError::BadKey)?;
        Ok(Sealer { cipher })
    }

    /// The key file in `data_dir`, created (owner-only) when missing;
    /// `Ok((sealer, true))` when it was just created.
    pub fn from_key_file(data_dir: &Path) -> Result<(Sealer, bool), SealError> {
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Sealer::from_text(&text)
                .map(|s| (s, false))
                .map_err(|e| SealError::KeyFile(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = XChaCha20Poly1305::generate_key(&mut OsRng);
                let text = base64::engine::general_purpose::STANDARD.encode(key);
                write_private(&path, text.as_bytes())
                    .map_err(|e| SealError::KeyFile(format!("writing {}: {e}", path.display())))?;
                Sealer::from_bytes(&key).map(|s| (s, true))
            }
            Err(e) => Err(SealError::KeyFile(format!(
                "reading {}: {e}",
                path.display()
            ))),
        }
    }

    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption with a valid key and nonce cannot fail for in-memory
        // buffers; an empty result would fail to open, never leak.
        let sealed = self.cipher.encrypt(&nonce, plain).unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(FORMAT);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let (format, rest) = sealed.split_first().ok_or(SealError::Open)?;
        if *format != FORMAT || rest.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), body)
            .map_err(|_| SealError::Open)
    }
}

/// Writes `bytes` to a new file readable by its owner only, synced with its
/// directory.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// A new Standard Webhooks signing secret, `whsec_` and 24 random bytes
/// from the OS in base64 (Svix's length).
pub fn new_signing_secret() -> String {
    use chacha20poly1305::aead::rand_core::RngCore as _;
    let mut key = [0u8; 24];
    OsRng.fill_bytes(&mut key);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_and_refuses_another_key_or_damage() {
        let a = Sealer::from_text(&"11".repeat(32)).unwrap();
        let b = Sealer::from_text(&base64::engine::general_purpose::STANDARD.encode([7u8; 32]))
            .unwrap();
        let sealed = a.seal(b"whsec_secret");
        assert!(!sealed.windows(6).any(|w| w == b"whsec_"));
        assert_eq!(a.open(&sealed).unwrap(), b"whsec_secret");
        assert!(b.open(&sealed).is_err());
        let mut damaged = sealed.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert!(a.open(&damaged).is_err());
        assert!(a.open(b"").is_err());
        assert_ne!(a.seal(b"x"), a.seal(b"x"), "a fresh nonce each time");
        assert!(Sealer::from_text("short").is_err());
    }

    #[test]
    fn the_key_file_is_created_owner_only_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (first, created) = Sealer::from_key_file(dir.path()).unwrap();
        assert!(created);
        let (again, created) = Sealer::from_key_file(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(again.open(&first.seal(b"k")).unwrap(), b"k");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
