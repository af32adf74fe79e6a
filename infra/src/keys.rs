//! Development key pairs. Production keys come from the deployment (see README); locally
//! the stack makes its own, and keeps them on disk so tokens survive a restart.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
use rand_core::OsRng;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a key file of the local stack: {source}")]
    Format {
        path: String,
        source: serde_json::Error,
    },
    #[error("cannot encode a key: {0}")]
    Encode(String),
}

/// PEM key pairs for workspace callback tokens and for the local identity provider's user
/// tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DevKeys {
    pub callback_private_pem: String,
    pub callback_public_pem: String,
    pub user_private_pem: String,
    pub user_public_pem: String,
}

pub fn pem_pair() -> Result<(String, String), KeyFileError> {
    let key = SigningKey::generate(&mut OsRng);
    let private = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|err| KeyFileError::Encode(err.to_string()))?;
    let public = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|err| KeyFileError::Encode(err.to_string()))?;
    Ok((private.to_string(), public))
}

impl DevKeys {
    pub fn generate() -> Result<Self, KeyFileError> {
        let (callback_private_pem, callback_public_pem) = pem_pair()?;
        let (user_private_pem, user_public_pem) = pem_pair()?;
        Ok(DevKeys {
            callback_private_pem,
            callback_public_pem,
            user_private_pem,
            user_public_pem,
        })
    }

    /// Loads the keys at `path`, or makes and saves new ones when there are none.
    pub fn load_or_generate(path: &Path) -> Result<Self, KeyFileError> {
        let shown = path.display().to_string();
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| KeyFileError::Format {
                path: shown,
                source,
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let keys = Self::generate()?;
                let io = |source| KeyFileError::Io {
                    path: shown.clone(),
                    source,
                };
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(io)?;
                }
                let json = serde_json::to_vec_pretty(&keys)
                    .map_err(|err| KeyFileError::Encode(err.to_string()))?;
                // Private keys: readable by their owner only.
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(io)?;
                std::io::Write::write_all(&mut file, &json).map_err(io)?;
                Ok(keys)
            }
            Err(source) => Err(KeyFileError::Io {
                path: shown,
                source,
            }),
        }
    }
}
