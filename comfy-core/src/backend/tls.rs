//! TLS for every backend, HTTP and WebSocket alike: rustls with the `aws-lc-rs` provider (no
//! OpenSSL), trusting the system's CA certificates, the Mozilla roots bundled with
//! `webpki-roots`, and any extra CA certificate the caller adds (a self-hosted ComfyUI behind a
//! private CA, a corporate proxy, a test server).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::error::{Error, Result};

/// An extra CA certificate to trust, as given to a backend builder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaCert {
    /// A PEM file (one or more `CERTIFICATE` sections), read when the backend is built.
    File(PathBuf),
    /// PEM text (one or more `CERTIFICATE` sections).
    Pem(Vec<u8>),
}

impl CaCert {
    /// The DER certificates in it; a file that cannot be read, or PEM without a certificate, is
    /// [`Error::InvalidArgument`] naming the file.
    fn certificates(&self) -> Result<Vec<CertificateDer<'static>>> {
        let (what, pem) = match self {
            CaCert::File(path) => {
                let pem =
                    std::fs::read(path).map_err(|e| invalid(path.display().to_string(), e.to_string()))?;
                (path.display().to_string(), pem)
            }
            CaCert::Pem(pem) => ("the PEM text".to_owned(), pem.clone()),
        };
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| invalid(what.clone(), format!("not a PEM certificate: {e}")))?;
        if certs.is_empty() {
            return Err(invalid(what, "no PEM CERTIFICATE section in it".into()));
        }
        Ok(certs)
    }
}

fn invalid(what: String, message: String) -> Error {
    Error::InvalidArgument { argument: "ca_cert".into(), message: format!("{what}: {message}") }
}

/// The roots every client trusts: the system store (when it can be read) and the Mozilla roots.
fn base_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            tracing::debug!(error = %e, "a system CA certificate could not be read");
        }
        let (added, ignored) = roots.add_parsable_certificates(native.certs);
        tracing::debug!(added, ignored, "system CA certificates loaded");
        roots
    })
}

/// A rustls client configuration trusting the base roots plus `extra` CA certificates.
pub(crate) fn client_config(extra: &[CaCert]) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = base_roots().clone();
    for ca in extra {
        for cert in ca.certificates()? {
            roots
                .add(cert)
                .map_err(|e| invalid(describe(ca), format!("not a usable CA certificate: {e}")))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::InvalidArgument { argument: "TLS".into(), message: e.to_string() })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn describe(ca: &CaCert) -> String {
    match ca {
        CaCert::File(p) => p.display().to_string(),
        CaCert::Pem(_) => "the PEM text".to_owned(),
    }
}

/// A hint to append to a connection error that looks like an untrusted certificate.
pub(crate) fn certificate_hint(message: &str) -> Option<&'static str> {
    let m = message.to_ascii_lowercase();
    (m.contains("certificate") || m.contains("unknownissuer") || m.contains("unknown issuer")).then_some(
        "the server's TLS certificate is not trusted; if it is signed by a private CA, pass that CA \
         with the backend builder's ca_cert",
    )
}

/// Reads a CA file path argument for builders.
pub(crate) fn ca_file(path: impl AsRef<Path>) -> CaCert {
    CaCert::File(path.as_ref().to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_ca_certificates_are_invalid_arguments() {
        let e = client_config(&[CaCert::Pem(b"not pem at all".to_vec())]).unwrap_err();
        assert_eq!(e.code(), "invalid_argument");
        assert!(e.to_string().contains("no PEM CERTIFICATE"), "{e}");
        let e = client_config(&[ca_file("/nonexistent/ca.pem")]).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        assert!(client_config(&[]).is_ok());
        assert!(certificate_hint("invalid peer certificate: UnknownIssuer").is_some());
        assert!(certificate_hint("connection refused").is_none());
    }
}
