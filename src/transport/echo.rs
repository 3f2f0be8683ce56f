//! `--detect-ip`: ask an address-echo service (by default AWS's
//! https://checkip.amazonaws.com/) which address our connections come
//! from. One GET whose body is the address; made only when asked, over TLS
//! with the system's roots unless the URL says plain http.

use std::net::IpAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::aws::ca_bundle::CaBundle;

const TIMEOUT: Duration = Duration::from_secs(5);
/// More than any address, less than anything worth reading.
const MAX_BODY: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum EchoError {
    #[error("`{0}` is not an http(s) URL berth can ask for your address")]
    BadUrl(String),
    #[error("cannot ask {url} for your address: {detail}")]
    Failed { url: String, detail: String },
}

/// The address in an echo service's answer: the body, trimmed.
fn parse_body(body: &[u8]) -> Option<IpAddr> {
    std::str::from_utf8(body).ok()?.trim().parse().ok()
}

/// Asks `url` for this machine's address, over TLS checked against the
/// system's roots and `ca_bundle`'s.
pub async fn public_address(url: &str, ca_bundle: Option<&CaBundle>) -> Result<IpAddr, EchoError> {
    let uri: hyper::Uri = url
        .parse()
        .ok()
        .filter(|u: &hyper::Uri| matches!(u.scheme_str(), Some("http" | "https")))
        .ok_or_else(|| EchoError::BadUrl(url.to_owned()))?;
    let failed = |detail: String| EchoError::Failed {
        url: url.to_owned(),
        detail,
    };
    let tls =
        super::tls::client_config(ca_bundle).map_err(|e| failed(format!("no TLS roots: {e}")))?;
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((*tls).clone())
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    let exchange = async {
        let response = client.get(uri).await.map_err(|e| failed(e.to_string()))?;
        if !response.status().is_success() {
            return Err(failed(format!("it answered {}", response.status())));
        }
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| failed(e.to_string()))?
            .to_bytes();
        if body.len() > MAX_BODY {
            return Err(failed("the answer is not an address".to_owned()));
        }
        parse_body(&body).ok_or_else(|| failed("the answer is not an address".to_owned()))
    };
    tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| failed(format!("no answer within {}s", TIMEOUT.as_secs())))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        assert_eq!(
            parse_body(b"198.51.100.7\n"),
            Some("198.51.100.7".parse().expect("ip"))
        );
        assert_eq!(
            parse_body(b"2001:db8::1"),
            Some("2001:db8::1".parse().expect("ip"))
        );
        assert_eq!(parse_body(b"<html>"), None);
        assert_eq!(parse_body(&[0xff, 0xfe]), None);
    }

    #[tokio::test]
    async fn only_http_urls() {
        assert!(matches!(
            public_address("ftp://example.test/", None).await,
            Err(EchoError::BadUrl(_))
        ));
        assert!(matches!(
            public_address("not a url", None).await,
            Err(EchoError::BadUrl(_))
        ));
    }
}
