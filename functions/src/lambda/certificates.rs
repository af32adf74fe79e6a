//! Where TLS clients find their root certificates. `rustls-native-certs` (under the AWS SDK's
//! HTTPS client, and reqwest's verifier) reads the system's bundle file *and* every file of
//! its certificate directory: on a distribution whose directory holds a hashed link per root
//! (Debian: some 440 files, each root parsed twice) that was two thirds of a cold start here
//! (`scripts/bench lambda`: init 23 ms with the directory, 7 ms with the bundle alone). The
//! bundle holds the same roots, so the bootstrap names it through `SSL_CERT_FILE`, the
//! variable both honour, unless the environment already chose.

const CERT_FILE: &str = "SSL_CERT_FILE";
const CERT_DIR: &str = "SSL_CERT_DIR";

/// Points `SSL_CERT_FILE` at the system's bundle (found as OpenSSL would) when neither
/// `SSL_CERT_FILE` nor `SSL_CERT_DIR` is set. Without a bundle file, nothing changes and the
/// directory is read as before.
///
/// # Safety
///
/// Changes the process environment: call it before any other thread exists (first thing in
/// `main`, before the async runtime starts).
pub unsafe fn read_one_bundle() {
    let chosen = bundle_to_name(
        std::env::var_os(CERT_FILE).is_some() || std::env::var_os(CERT_DIR).is_some(),
        || openssl_probe::probe().cert_file,
    );
    if let Some(bundle) = chosen {
        // SAFETY: the caller guarantees no other thread reads or writes the environment.
        unsafe { std::env::set_var(CERT_FILE, bundle) };
    }
}

/// The bundle to name in `SSL_CERT_FILE`: none when the environment chose already (then
/// the system is not searched at all).
fn bundle_to_name(
    environment_chose: bool,
    system_bundle: impl FnOnce() -> Option<std::path::PathBuf>,
) -> Option<std::path::PathBuf> {
    if environment_chose {
        None
    } else {
        system_bundle()
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::bundle_to_name;

    #[test]
    fn the_system_bundle_is_named_only_when_the_environment_chose_nothing() {
        let bundle = Some(PathBuf::from("/etc/pki/tls/certs/ca-bundle.crt"));
        assert_eq!(bundle_to_name(false, || bundle.clone()), bundle);
        assert_eq!(
            bundle_to_name(true, || panic!("searched although the environment chose")),
            None
        );
        assert_eq!(bundle_to_name(false, || None), None);
    }
}
