//! The HTTP proxy berth's own websockets go through (an Instance Connect
//! Endpoint's tunnel, a Session Manager data channel), as the AWS CLI
//! uses one: from `HTTPS_PROXY` or `HTTP_PROXY` (either serves; the one
//! named for the scheme is asked first), skipped for a host that
//! `NO_PROXY` names, with the URL's user and password sent as Basic
//! `Proxy-Authorization`. The connection then runs over an HTTP `CONNECT`
//! tunnel to the destination, with TLS (for `wss://`) inside it end to
//! end. A plain `ws://` destination goes through the proxy the same way:
//! CONNECT carries any TCP stream, and the proxy sees no more of it than
//! the host and port.
//!
//! Choosing is pure ([`proxy_for`]); `NO_PROXY` is matched by curl's
//! rules (comma-separated names that match themselves and their
//! subdomains, addresses and CIDRs, `*` for all), as hyper-util's matcher
//! implements them. [`dial`] opens the byte stream, straight or through
//! the proxy.

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::header::{HOST, HeaderValue, PROXY_AUTHORIZATION};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::settings::ProxyEnv;

/// The port of a proxy URL without one, as curl assumes.
const DEFAULT_PROXY_PORT: u16 = 1080;

/// A proxy to open connections through.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyHop {
    pub host: String,
    pub port: u16,
    /// Which variable named it, for messages.
    pub var: &'static str,
    /// `Basic …` from the URL's user and password.
    pub auth: Option<HeaderValue>,
}

impl ProxyHop {
    /// `host:port`: the proxy as messages name it, without credentials.
    pub fn shown(&self) -> String {
        authority(&self.host, self.port)
    }
}

impl std::fmt::Debug for ProxyHop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyHop")
            .field("proxy", &self.shown())
            .field("var", &self.var)
            .field("auth", &self.auth.is_some())
            .finish_non_exhaustive()
    }
}

/// Why the proxy could not be used: a value that is no proxy URL berth
/// can use, or a proxy that would not connect. The caller names the
/// destination.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("through the proxy {proxy} (from {var}): {detail}")]
pub struct ProxyError {
    /// `host:port`, never the credentials of the proxy URL.
    pub proxy: String,
    pub var: &'static str,
    pub detail: String,
}

/// `host:port`, with an IPv6 address in brackets.
fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The proxy to reach `authority` (`host` or `host:port`) through, for a
/// TLS (`secure`) or plain destination, if the environment names one and
/// `NO_PROXY` does not exempt the host.
pub fn proxy_for(
    env: &ProxyEnv,
    secure: bool,
    authority: &str,
) -> Result<Option<ProxyHop>, ProxyError> {
    let ordered = if secure {
        [&env.https, &env.http]
    } else {
        [&env.http, &env.https]
    };
    let Some((var, value)) = ordered.into_iter().flatten().next() else {
        return Ok(None);
    };
    let bad = |detail: &str| ProxyError {
        proxy: value.rsplit('@').next().unwrap_or_default().to_owned(),
        var,
        detail: detail.to_owned(),
    };
    // The destination as the matcher sees it: only its host counts for
    // NO_PROXY, and `all` serves either scheme.
    let destination: hyper::Uri = format!("http://{authority}/")
        .parse()
        .map_err(|_| bad("the destination's host is not a URL authority"))?;
    let proxy_only = Matcher::builder().all(value.clone()).build();
    let Some(intercept) = proxy_only.intercept(&destination) else {
        return Err(bad("not a proxy URL (http://[USER:PASSWORD@]HOST:PORT)"));
    };
    let with_exceptions = Matcher::builder()
        .all(value.clone())
        .no(env.no_proxy.clone().unwrap_or_default())
        .build();
    if with_exceptions.intercept(&destination).is_none() {
        return Ok(None);
    }
    let uri = intercept.uri();
    if uri.scheme_str() != Some("http") {
        return Err(bad(
            "berth speaks to a proxy in plain HTTP only (an http:// URL)",
        ));
    }
    let host = uri
        .host()
        .ok_or_else(|| bad("the proxy URL has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    Ok(Some(ProxyHop {
        host,
        port: uri.port_u16().unwrap_or(DEFAULT_PROXY_PORT),
        var,
        auth: intercept.basic_auth().cloned(),
    }))
}

/// A byte stream to `host:port`: TCP, or a proxy's tunnel.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Why [`dial`] failed: at the proxy, or on the way to the destination.
#[derive(Debug)]
pub enum DialError {
    Proxy(ProxyError),
    Direct(std::io::Error),
}

/// A TCP stream to `host:port`, straight or (with `hop`) through the
/// proxy's `CONNECT`; no delay on small writes either way.
pub async fn dial(
    hop: Option<&ProxyHop>,
    host: &str,
    port: u16,
) -> Result<Box<dyn Stream>, DialError> {
    match hop {
        None => {
            let tcp = TcpStream::connect((host, port))
                .await
                .map_err(DialError::Direct)?;
            let _ = tcp.set_nodelay(true);
            Ok(Box::new(tcp))
        }
        Some(hop) => connect_through(hop, host, port)
            .await
            .map(|stream| Box::new(stream) as Box<dyn Stream>)
            .map_err(|detail| {
                DialError::Proxy(ProxyError {
                    proxy: hop.shown(),
                    var: hop.var,
                    detail,
                })
            }),
    }
}

/// A byte stream to `host:port` through the proxy's HTTP `CONNECT`.
async fn connect_through(
    hop: &ProxyHop,
    host: &str,
    port: u16,
) -> Result<TokioIo<hyper::upgrade::Upgraded>, String> {
    let tcp = TcpStream::connect((hop.host.as_str(), hop.port))
        .await
        .map_err(|e| format!("cannot connect to the proxy: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| e.to_string())?;
    // Drives the request, and hands the connection over once the proxy
    // has said yes; it ends with it.
    tokio::spawn(connection.with_upgrades());
    let authority = authority(host, port);
    let mut request = Request::builder()
        .method(Method::CONNECT)
        .uri(authority.as_str())
        .header(HOST, authority.as_str());
    if let Some(auth) = &hop.auth {
        request = request.header(PROXY_AUTHORIZATION, auth.clone());
    }
    let request = request
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("the proxy did not answer the CONNECT: {e}"))?;
    match response.status() {
        status if status.is_success() => {}
        StatusCode::PROXY_AUTHENTICATION_REQUIRED => {
            return Err(
                "the proxy asks for credentials (HTTP 407): give them in the proxy URL \
                 (http://USER:PASSWORD@HOST:PORT)"
                    .to_owned(),
            );
        }
        status => {
            return Err(format!(
                "the proxy refused to CONNECT to {authority} (HTTP {})",
                status.as_u16()
            ));
        }
    }
    let upgraded = hyper::upgrade::on(response)
        .await
        .map_err(|e| format!("the proxy's tunnel did not open: {e}"))?;
    Ok(TokioIo::new(upgraded))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(https: Option<&str>, http: Option<&str>, no: Option<&str>) -> ProxyEnv {
        ProxyEnv {
            https: https.map(|v| ("HTTPS_PROXY", v.to_owned())),
            http: http.map(|v| ("http_proxy", v.to_owned())),
            no_proxy: no.map(str::to_owned),
        }
    }

    /// A destination: TLS or not, and its authority.
    #[derive(Clone)]
    struct To(bool, &'static str);

    fn endpoint() -> To {
        To(
            true,
            "eice-1.abc.ec2-instance-connect-endpoint.us-east-1.amazonaws.com",
        )
    }

    /// `VAR host:port` of the chosen proxy, or `direct`.
    fn chosen(env: &ProxyEnv, to: &To) -> String {
        match proxy_for(env, to.0, to.1).expect("chosen") {
            Some(hop) => format!("{} {}", hop.var, hop.shown()),
            None => "direct".to_owned(),
        }
    }

    #[test]
    fn the_proxy_is_chosen_as_the_aws_cli_chooses_it() {
        let stand_in = To(false, "127.0.0.1:8080");
        let cases = [
            ("none set", env(None, None, None), endpoint(), "direct"),
            (
                "wss: HTTPS_PROXY",
                env(Some("http://proxy.corp:3128"), None, None),
                endpoint(),
                "HTTPS_PROXY proxy.corp:3128",
            ),
            (
                "wss: HTTP_PROXY serves too, as in the AWS CLI",
                env(None, Some("http://proxy.corp:3128"), None),
                endpoint(),
                "http_proxy proxy.corp:3128",
            ),
            (
                "wss: HTTPS_PROXY first",
                env(Some("http://a:1"), Some("http://b:2"), None),
                endpoint(),
                "HTTPS_PROXY a:1",
            ),
            (
                "ws: HTTP_PROXY first",
                env(Some("http://a:1"), Some("http://b:2"), None),
                stand_in.clone(),
                "http_proxy b:2",
            ),
            (
                "no scheme means http, no port means curl's 1080",
                env(Some("proxy.corp"), None, None),
                endpoint(),
                "HTTPS_PROXY proxy.corp:1080",
            ),
            (
                "NO_PROXY names a parent domain",
                env(Some("http://a:1"), None, Some("example.com, amazonaws.com")),
                endpoint(),
                "direct",
            ),
            (
                "NO_PROXY with a leading dot",
                env(Some("http://a:1"), None, Some(".amazonaws.com")),
                endpoint(),
                "direct",
            ),
            (
                "NO_PROXY is no substring match",
                env(Some("http://a:1"), None, Some("zonaws.com")),
                endpoint(),
                "HTTPS_PROXY a:1",
            ),
            (
                "NO_PROXY with a CIDR",
                env(None, Some("http://a:1"), Some("10.0.0.0/8,127.0.0.0/8")),
                stand_in.clone(),
                "direct",
            ),
            (
                "NO_PROXY=*",
                env(Some("http://a:1"), None, Some("*")),
                endpoint(),
                "direct",
            ),
            (
                "NO_PROXY for another address",
                env(None, Some("http://a:1"), Some("127.0.0.2")),
                stand_in,
                "http_proxy a:1",
            ),
        ];
        for (name, env, to, want) in cases {
            assert_eq!(chosen(&env, &to), want, "{name}");
        }
    }

    #[test]
    fn credentials_become_basic_auth_and_stay_out_of_messages() {
        let to = endpoint();
        let hop = proxy_for(
            &env(Some("http://user:p%40ss@proxy.corp:3128"), None, None),
            to.0,
            to.1,
        )
        .expect("ok")
        .expect("a proxy");
        // base64("user:p@ss")
        assert_eq!(
            hop.auth.as_ref().map(HeaderValue::as_bytes),
            Some(&b"Basic dXNlcjpwQHNz"[..])
        );
        assert_eq!(hop.shown(), "proxy.corp:3128");
        assert!(!format!("{hop:?}").contains("dXNl"), "{hop:?}");
    }

    #[test]
    fn unusable_proxy_urls_are_errors() {
        for value in ["socks5://proxy.corp:1080", "https://proxy.corp:443", "::"] {
            let to = endpoint();
            match proxy_for(&env(Some(value), None, None), to.0, to.1) {
                Err(ProxyError { var, .. }) => assert_eq!(var, "HTTPS_PROXY", "{value}"),
                other => panic!("{value}: {other:?}"),
            }
        }
    }
}
