//! The provider's signing keys and their public halves as JWKs.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, EncodingKey};

#[derive(Debug, thiserror::Error)]
#[error("local identity provider key: {0}")]
pub struct KeyError(pub String);

fn key_error(err: impl std::fmt::Display) -> KeyError {
    KeyError(err.to_string())
}

pub struct ProviderKey {
    pub kid: String,
    pub algorithm: Algorithm,
    pub encoding: EncodingKey,
    pub jwk: Jwk,
}

impl ProviderKey {
    /// The development user key (Ed25519, PKCS#8 PEM), under a `kid` derived from it.
    pub fn from_ed_pem(pem: &str) -> Result<Self, KeyError> {
        let encoding = EncodingKey::from_ed_pem(pem.as_bytes()).map_err(key_error)?;
        // jsonwebtoken derives a JWK only from a bare 48-byte PKCS#8; ed25519-dalek's carries
        // the public key too, so the JWK is made from that.
        let signing = ed25519_dalek::SigningKey::from_pkcs8_pem(pem).map_err(key_error)?;
        let jwk = Jwk {
            common: CommonParameters {
                key_algorithm: Some(KeyAlgorithm::EdDSA),
                ..CommonParameters::default()
            },
            algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(signing.verifying_key().as_bytes()),
            }),
        };
        Self::with_jwk(Algorithm::EdDSA, encoding, jwk)
    }

    /// A new key of `algorithm` (RS256, ES256 or EdDSA).
    pub fn generate(algorithm: Algorithm) -> Result<Self, KeyError> {
        let encoding = match algorithm {
            Algorithm::EdDSA => {
                let (private, _) = crate::keys::pem_pair().map_err(key_error)?;
                return Self::from_ed_pem(&private);
            }
            Algorithm::ES256 => {
                let pair =
                    EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(key_error)?;
                let pkcs8 = pair.to_pkcs8v1().map_err(key_error)?;
                EncodingKey::from_ec_der(pkcs8.as_ref())
            }
            Algorithm::RS256 => {
                let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .map_err(key_error)?;
                let pkcs8 = pair.as_der().map_err(key_error)?;
                let body = base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref());
                let pem =
                    format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
                EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(key_error)?
            }
            other => return Err(KeyError(format!("{other:?} is not a provider algorithm"))),
        };
        Self::new(algorithm, encoding)
    }

    fn new(algorithm: Algorithm, encoding: EncodingKey) -> Result<Self, KeyError> {
        let jwk = Jwk::from_encoding_key(&encoding, algorithm).map_err(key_error)?;
        Self::with_jwk(algorithm, encoding, jwk)
    }

    fn with_jwk(
        algorithm: Algorithm,
        encoding: EncodingKey,
        mut jwk: Jwk,
    ) -> Result<Self, KeyError> {
        let kid = thumbprint(&jwk)?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(ProviderKey {
            kid,
            algorithm,
            encoding,
            jwk,
        })
    }
}

/// The key's RFC 7638 thumbprint: the same key always gets the same `kid`.
fn thumbprint(jwk: &Jwk) -> Result<String, KeyError> {
    jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
        .map_err(key_error)
}
