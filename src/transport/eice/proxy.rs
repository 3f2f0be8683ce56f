//! The HTTP proxy a tunnel's websocket goes through, as the AWS CLI's
//! `open-tunnel` uses one: from `HTTPS_PROXY` or `HTTP_PROXY` (either
//! serves; the one named for the scheme is asked first), skipped for a
//! host that `NO_PROXY` names, with the URL's user and password sent as
//! Basic `Proxy-Authorization`. The websocket then runs over an HTTP
//! `CONNECT` tunnel to the endpoint, with TLS inside it end to end.
//!
//! Choosing is pure ([`proxy_for`]); `NO_PROXY` is matched by curl's
//! rules (comma-separated names that match themselves and their
//! subdomains, addresses and CIDRs, `*` for all), as hyper-util's matcher
//! implements them.

use hyper::header::HeaderValue;
use hyper_util::client::proxy::matcher::Matcher;

use super::EiceError;
use super::presign::TunnelBase;
use crate::settings::ProxyEnv;

/// The port of a proxy URL without one, as curl assumes.
const DEFAULT_PROXY_PORT: u16 = 1080;

/// A proxy to open tunnels through.
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
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
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

/// The proxy to reach `base` through, if the environment names one and
/// `NO_PROXY` does not exempt the host.
pub fn proxy_for(env: &ProxyEnv, base: &TunnelBase) -> Result<Option<ProxyHop>, EiceError> {
    let ordered = if base.secure() {
        [&env.https, &env.http]
    } else {
        [&env.http, &env.https]
    };
    let Some((var, value)) = ordered.into_iter().flatten().next() else {
        return Ok(None);
    };
    let bad = |detail: &str| EiceError::Proxy {
        url: base.shown(),
        proxy: value.rsplit('@').next().unwrap_or_default().to_owned(),
        var,
        detail: detail.to_owned(),
    };
    // The destination as the matcher sees it: only its host counts for
    // NO_PROXY, and `all` serves either scheme.
    let destination: hyper::Uri = format!("http://{}/", base.authority())
        .parse()
        .map_err(|_| bad("the endpoint's host is not a URL authority"))?;
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

    fn endpoint() -> TunnelBase {
        TunnelBase::endpoint("eice-1.abc.ec2-instance-connect-endpoint.us-east-1.amazonaws.com")
            .expect("base")
    }

    /// `VAR host:port` of the chosen proxy, or `direct`.
    fn chosen(env: &ProxyEnv, base: &TunnelBase) -> String {
        match proxy_for(env, base).expect("chosen") {
            Some(hop) => format!("{} {}", hop.var, hop.shown()),
            None => "direct".to_owned(),
        }
    }

    #[test]
    fn the_proxy_is_chosen_as_the_aws_cli_chooses_it() {
        let stand_in = TunnelBase::parse("ws://127.0.0.1:8080", "test").expect("base");
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
        for (name, env, base, want) in cases {
            assert_eq!(chosen(&env, &base), want, "{name}");
        }
    }

    #[test]
    fn credentials_become_basic_auth_and_stay_out_of_messages() {
        let hop = proxy_for(
            &env(Some("http://user:p%40ss@proxy.corp:3128"), None, None),
            &endpoint(),
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
            match proxy_for(&env(Some(value), None, None), &endpoint()) {
                Err(EiceError::Proxy { var, .. }) => assert_eq!(var, "HTTPS_PROXY", "{value}"),
                other => panic!("{value}: {other:?}"),
            }
        }
    }
}
