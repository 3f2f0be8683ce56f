//! The extra certificate authorities berth trusts, as the AWS CLI takes
//! them: the PEM file `AWS_CA_BUNDLE` names, else the profile's
//! `ca_bundle`. berth reads the file itself, once per run, and gives the
//! same certificates to the SDK's HTTP client and to its own TLS (the
//! websockets, the address echo), always on top of the system's roots.
//!
//! Each certificate is checked here, so that a bad file is one clear error
//! naming it (the SDK's HTTP client would panic on one).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

/// The certificates of one bundle file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaBundle {
    pub path: PathBuf,
    /// Where the path came from: `AWS_CA_BUNDLE`, `ca_bundle of profile dev`.
    pub source: String,
    certificates: Vec<CertificateDer<'static>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaBundleError {
    #[error("cannot read the CA bundle {} (from {source_name}): {detail}", .path.display())]
    Unreadable {
        path: PathBuf,
        source_name: String,
        detail: String,
    },
    #[error("the CA bundle {} (from {source_name}) holds no usable certificate: {detail}", .path.display())]
    NoCertificate {
        path: PathBuf,
        source_name: String,
        detail: String,
    },
}

impl CaBundle {
    /// Reads and checks the bundle at `path`, named by `source`.
    pub fn read(path: &Path, source: &str) -> Result<CaBundle, CaBundleError> {
        let bytes = std::fs::read(path).map_err(|e| CaBundleError::Unreadable {
            path: path.to_owned(),
            source_name: source.to_owned(),
            detail: e.to_string(),
        })?;
        CaBundle::parse(path, source, &bytes)
    }

    /// The certificates of a PEM bundle, each one usable as a root.
    pub fn parse(path: &Path, source: &str, pem: &[u8]) -> Result<CaBundle, CaBundleError> {
        let unusable = |detail: String| CaBundleError::NoCertificate {
            path: path.to_owned(),
            source_name: source.to_owned(),
            detail,
        };
        let certificates = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| unusable(format!("not a PEM file ({e})")))?;
        if certificates.is_empty() {
            return Err(unusable(
                "no -----BEGIN CERTIFICATE----- block in it".to_owned(),
            ));
        }
        for (n, certificate) in certificates.iter().enumerate() {
            rustls::RootCertStore::empty()
                .add(certificate.clone())
                .map_err(|e| unusable(format!("certificate {} cannot be a root: {e}", n + 1)))?;
        }
        Ok(CaBundle {
            path: path.to_owned(),
            source: source.to_owned(),
            certificates,
        })
    }

    /// The certificates, DER-encoded.
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.certificates
    }

    /// The certificates again as PEM, one block each (what the SDK's
    /// trust store takes).
    pub fn to_pem(&self) -> String {
        let mut pem = String::new();
        for certificate in &self.certificates {
            let body = base64::engine::general_purpose::STANDARD.encode(certificate.as_ref());
            pem.push_str("-----BEGIN CERTIFICATE-----\n");
            for line in body.as_bytes().chunks(64) {
                pem.push_str(&String::from_utf8_lossy(line));
                pem.push('\n');
            }
            pem.push_str("-----END CERTIFICATE-----\n");
        }
        pem
    }
}

impl crate::model::hint::Hint for CaBundleError {
    fn hint(&self) -> Option<String> {
        let what = match self {
            Self::Unreadable { source_name, .. } | Self::NoCertificate { source_name, .. } => {
                source_name
            }
        };
        Some(format!(
            "point {what} at a readable PEM file of CA certificates \
             (-----BEGIN CERTIFICATE-----), or unset it to trust the system's roots only"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed CA certificate, made once with `openssl req -x509
    /// -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj "/CN=berth test CA"`.
    const CA: &str = "-----BEGIN CERTIFICATE-----
MIIBhjCCAS2gAwIBAgIUNSDihHF57/PB2onLbfpxj/GiC+AwCgYIKoZIzj0EAwIw
GDEWMBQGA1UEAwwNYmVydGggdGVzdCBDQTAgFw0yNjEyMDcxOTI5NDlaGA8yMTI2
MTExMzE5Mjk0OVowGDEWMBQGA1UEAwwNYmVydGggdGVzdCBDQTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABCKp2jJ6zElxpcDdcjVksLjBUD7VTO31l80kMCji6otf
RmVFVbtcprEt9IGBc+hbL7gB9DsyshNOoQXZQB0FlhKjUzBRMB0GA1UdDgQWBBTA
pVNP3OjgDSnyNbToKwn05s1edzAfBgNVHSMEGDAWgBTApVNP3OjgDSnyNbToKwn0
5s1edzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCIFnBzRm0gfP+
C0ANcakxYmypIAAlG1eP5vLKK2X567hfAiA5fau7dBeOQx2geBqi1CQ1oeG7XI0T
BE4zbQYHx2n8Hw==
-----END CERTIFICATE-----
";

    fn parse(pem: &str) -> Result<CaBundle, CaBundleError> {
        CaBundle::parse(Path::new("/b.pem"), "AWS_CA_BUNDLE", pem.as_bytes())
    }

    #[test]
    fn a_file_without_certificates_is_refused_with_its_path() {
        for pem in [
            "",
            "hello\n",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ] {
            let e = parse(pem).expect_err(pem);
            let text = e.to_string();
            assert!(text.contains("/b.pem"), "{text}");
            assert!(text.contains("AWS_CA_BUNDLE"), "{text}");
            assert!(matches!(e, CaBundleError::NoCertificate { .. }), "{e:?}");
        }
        let e = CaBundle::read(Path::new("/nonexistent/ca.pem"), "AWS_CA_BUNDLE")
            .expect_err("unreadable");
        assert!(matches!(e, CaBundleError::Unreadable { .. }), "{e:?}");
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn garbage_in_a_certificate_block_is_refused() {
        let garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let e = parse(&format!("{CA}{garbage}")).expect_err("not a certificate");
        assert!(e.to_string().contains("certificate 2"), "{e}");
    }

    #[test]
    fn a_bundle_keeps_its_certificates_and_gives_them_back_as_pem() {
        let bundle = parse(&format!("# a comment\n{CA}\n{CA}")).expect("bundle");
        assert_eq!(bundle.certificates().len(), 2);
        let again = parse(&bundle.to_pem()).expect("round trip");
        assert_eq!(again.certificates(), bundle.certificates());
        assert!(
            bundle
                .to_pem()
                .starts_with("-----BEGIN CERTIFICATE-----\nMIIB")
        );
    }
}
