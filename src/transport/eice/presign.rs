//! The URL of one tunnel: `openTunnel` with the endpoint, address and port
//! in its query, presigned with SigV4 as the AWS CLI presigns it (query
//! authentication, service `ec2-instance-connect`, `host` the only signed
//! header, the payload hash that of the empty body (not `UNSIGNED-PAYLOAD`,
//! which only S3's presigned URLs use), valid for [`URL_EXPIRES`]).
//!
//! Pure: the credentials and the signing time are arguments, so tests pin
//! both and compare with URLs the AWS CLI's signer produced.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use super::{EiceError, URL_EXPIRES};
pub use crate::model::network::TunnelTarget;

/// The name EC2 Instance Connect signs requests under.
pub const SIGNING_NAME: &str = "ec2-instance-connect";

/// The path of the tunnel websocket.
pub const OPEN_TUNNEL_PATH: &str = "/openTunnel";

/// Where tunnels are opened: `wss://{DnsName}` for an endpoint in AWS, or
/// what `$BERTH_EICE_URL` says (a stand-in on loopback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelBase {
    secure: bool,
    /// `host` or `host:port`, exactly as the Host header and the signature
    /// carry it.
    authority: String,
    host: String,
    port: u16,
}

impl TunnelBase {
    /// `wss://{dns_name}`, the endpoint's own address.
    pub fn endpoint(dns_name: &str) -> Result<Self, EiceError> {
        Self::parse(&format!("wss://{dns_name}"), "the endpoint's DnsName")
    }

    /// `ws://HOST[:PORT]` or `wss://HOST[:PORT]` (a trailing `/` is fine,
    /// any other path is not: the tunnel's path is fixed). `var` names
    /// where the value came from, for the error.
    pub fn parse(value: &str, var: &'static str) -> Result<Self, EiceError> {
        let bad = || EiceError::BadBaseUrl {
            var,
            value: value.to_owned(),
        };
        let uri: hyper::Uri = value.parse().map_err(|_| bad())?;
        let secure = match uri.scheme_str() {
            Some("wss") => true,
            Some("ws") => false,
            _ => return Err(bad()),
        };
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(bad());
        }
        let authority = uri.authority().ok_or_else(bad)?;
        let host = authority.host();
        if host.is_empty() || authority.as_str().contains('@') {
            return Err(bad());
        }
        Ok(Self {
            secure,
            authority: authority.as_str().to_owned(),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: authority
                .port_u16()
                .unwrap_or(if secure { 443 } else { 80 }),
        })
    }

    /// Whether the websocket runs over TLS (`wss`).
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// The host name (or address) to connect to and to check the
    /// certificate against.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host` or `host:port`, as the Host header says it.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    fn scheme(&self) -> &'static str {
        if self.secure { "wss" } else { "ws" }
    }

    /// `wss://host/openTunnel`: the tunnel's URL without its query, which
    /// is a credential for a minute and stays out of messages.
    pub fn shown(&self) -> String {
        format!("{}://{}{OPEN_TUNNEL_PATH}", self.scheme(), self.authority)
    }
}

/// The tunnel's own query parameters, in the AWS CLI's order.
fn query(target: &TunnelTarget) -> Vec<(&'static str, String)> {
    let mut query = vec![
        ("instanceConnectEndpointId", target.endpoint_id.clone()),
        ("remotePort", target.port.to_string()),
        ("privateIpAddress", target.private_ip.clone()),
    ];
    if let Some(duration) = target.max_duration {
        query.push(("maxTunnelDuration", duration.as_secs().to_string()));
    }
    query
}

/// The presigned `ws(s)://…/openTunnel?…` URL of a tunnel to `target`,
/// signed with `credentials` for `region` at time `at`.
pub fn presign(
    credentials: &Credentials,
    region: &str,
    base: &TunnelBase,
    target: &TunnelTarget,
    at: SystemTime,
) -> Result<String, EiceError> {
    let url = format!(
        "{}://{}{OPEN_TUNNEL_PATH}?{}",
        base.scheme(),
        base.authority,
        query_string(query(target).iter().map(|(k, v)| (*k, v.as_str())))
    );
    presign_get(
        credentials,
        region,
        SIGNING_NAME,
        &url,
        &base.authority,
        at,
        URL_EXPIRES,
    )
}

/// `url` (a GET to `host`) with SigV4 query authentication added for
/// `service` in `region`, signed at `at`, valid for `expires`.
fn presign_get(
    credentials: &Credentials,
    region: &str,
    service: &str,
    url: &str,
    host: &str,
    at: SystemTime,
    expires: Duration,
) -> Result<String, EiceError> {
    let failed = |e: &dyn std::fmt::Display| EiceError::Signing(e.to_string());
    let identity = Identity::from(credentials.clone());
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(expires);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(at)
        .settings(settings)
        .build()
        .map_err(|e| failed(&e))?
        .into();
    let request = SignableRequest::new(
        "GET",
        url,
        std::iter::once(("host", host)),
        SignableBody::empty(),
    )
    .map_err(|e| failed(&e))?;
    let (instructions, _) = sign(request, &params).map_err(|e| failed(&e))?.into_parts();
    let (_, mut added) = instructions.into_parts();
    // The signature last, as the AWS CLI writes it; the server sorts the
    // parameters anyway.
    added.sort_by_key(|(name, _)| *name == "X-Amz-Signature");
    let separator = if url.contains('?') { '&' } else { '?' };
    Ok(format!(
        "{url}{separator}{}",
        query_string(added.iter().map(|(name, value)| (*name, value.as_ref())))
    ))
}

/// `k=v&k=v`, each part percent-encoded as SigV4 encodes it: everything
/// but the unreserved characters of RFC 3986.
fn query_string<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known values: URLs that botocore 1.44.5's RequestSigner produced,
    // called exactly as the AWS CLI's
    // `awscli/customizations/ec2instanceconnect/eicesigner.py` calls it
    // (generate_presigned_url, operation `openTunnel`, expires_in=60, the
    // `host` header set to the DNS name), with the AWS documentation's
    // example key pair and the clock patched to 2024-05-01T12:00:00Z
    // (`mock.patch("botocore.auth.get_current_datetime")`). The two
    // implementations share no code, so equal URLs mean equal canonical
    // requests.

    const DNS: &str =
        "eice-0123456789abcdef0.1a2b3c4d.ec2-instance-connect-endpoint.us-east-1.amazonaws.com";

    fn credentials(token: Option<&str>) -> Credentials {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            token.map(str::to_owned),
            None,
            "test",
        )
    }

    fn target(port: u16, ip: &str, max: Option<u64>) -> TunnelTarget {
        TunnelTarget {
            endpoint_id: "eice-0123456789abcdef0".into(),
            private_ip: ip.into(),
            port,
            max_duration: max.map(Duration::from_secs),
        }
    }

    fn at() -> SystemTime {
        // 2024-05-01T12:00:00Z
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_564_800)
    }

    #[test]
    fn the_url_is_the_one_the_aws_cli_signs() {
        let cases = [
            (
                "ssh, long-term credentials",
                credentials(None),
                TunnelBase::endpoint(DNS).expect("base"),
                target(22, "10.0.1.23", None),
                format!(
                    "wss://{DNS}/openTunnel?instanceConnectEndpointId=eice-0123456789abcdef0\
                     &remotePort=22&privateIpAddress=10.0.1.23&X-Amz-Algorithm=AWS4-HMAC-SHA256\
                     &X-Amz-Credential=AKIDEXAMPLE%2F20240501%2Fus-east-1%2Fec2-instance-connect%2Faws4_request\
                     &X-Amz-Date=20240501T120000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host\
                     &X-Amz-Signature=e4474a97b28f7f8c9c8f1e6742d1f77a9f9bdff09d930ae17e52f3a0c5fd80ab"
                ),
            ),
            (
                "rdp, a session token that needs escaping, a maximum duration",
                credentials(Some("IQoJb3JpZ2luX2VjEXAMPLE/+token=")),
                TunnelBase::endpoint(DNS).expect("base"),
                target(3389, "10.0.1.23", Some(3600)),
                format!(
                    "wss://{DNS}/openTunnel?instanceConnectEndpointId=eice-0123456789abcdef0\
                     &remotePort=3389&privateIpAddress=10.0.1.23&maxTunnelDuration=3600\
                     &X-Amz-Algorithm=AWS4-HMAC-SHA256\
                     &X-Amz-Credential=AKIDEXAMPLE%2F20240501%2Fus-east-1%2Fec2-instance-connect%2Faws4_request\
                     &X-Amz-Date=20240501T120000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host\
                     &X-Amz-Security-Token=IQoJb3JpZ2luX2VjEXAMPLE%2F%2Btoken%3D\
                     &X-Amz-Signature=99579dc780d678c9e4a136d568359144c26da0a62699d150550bb47af61af9d3"
                ),
            ),
            (
                // The host with its port is what the signature covers; the
                // scheme is not part of it (botocore signed this as wss://).
                "a stand-in on loopback",
                credentials(None),
                TunnelBase::parse("ws://127.0.0.1:40123", "test").expect("base"),
                target(22, "127.31.0.10", None),
                "ws://127.0.0.1:40123/openTunnel?instanceConnectEndpointId=eice-0123456789abcdef0\
                 &remotePort=22&privateIpAddress=127.31.0.10&X-Amz-Algorithm=AWS4-HMAC-SHA256\
                 &X-Amz-Credential=AKIDEXAMPLE%2F20240501%2Fus-east-1%2Fec2-instance-connect%2Faws4_request\
                 &X-Amz-Date=20240501T120000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host\
                 &X-Amz-Signature=038a150943515636ec2d46d036dcc40473b4b492789497ebb73bcead422da0d1"
                    .to_owned(),
            ),
        ];
        for (name, credentials, base, target, want) in cases {
            let got = presign(&credentials, "us-east-1", &base, &target, at()).expect(name);
            assert_eq!(got, want, "{name}");
        }
    }

    /// Known values of the SigV4 test suite (`aws-signing-test-suite/v4`,
    /// as shipped with the aws-sigv4 crate): `query-signature.txt` of
    /// get-vanilla, get-vanilla-with-session-token and
    /// get-vanilla-query-order-key-case, signed for service `service` at
    /// 2015-08-30T12:36:00Z, valid for an hour.
    #[test]
    fn the_sigv4_suites_query_signatures() {
        let suite_key = |token: Option<&str>| {
            Credentials::new(
                "AKIDEXAMPLE",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                token.map(str::to_owned),
                None,
                "suite",
            )
        };
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        let cases = [
            (
                "get-vanilla",
                suite_key(None),
                "https://example.amazonaws.com/",
                "e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d",
            ),
            (
                "get-vanilla-with-session-token",
                suite_key(Some(
                    "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267",
                )),
                "https://example.amazonaws.com/",
                "7ff2b50b376cb4d151970630573d6291dc128cc5c2a12ffb237f73cc53f67b6c",
            ),
            (
                "get-vanilla-query-order-key-case",
                suite_key(None),
                "https://example.amazonaws.com/?Param2=value2&Param1=value1",
                "86012e2c9ad4d77369f5d81c11f75158aae4f895a085212cc6d3f923d300bed5",
            ),
        ];
        for (name, credentials, url, signature) in cases {
            let signed = presign_get(
                &credentials,
                "us-east-1",
                "service",
                url,
                "example.amazonaws.com",
                at,
                Duration::from_secs(3600),
            )
            .expect(name);
            assert!(
                signed.ends_with(&format!("&X-Amz-Signature={signature}")),
                "{name}: {signed}"
            );
        }
    }

    #[test]
    fn another_second_is_another_signature() {
        let base = TunnelBase::endpoint(DNS).expect("base");
        let one = presign(
            &credentials(None),
            "us-east-1",
            &base,
            &target(22, "10.0.1.23", None),
            at(),
        )
        .expect("url");
        let two = presign(
            &credentials(None),
            "us-east-1",
            &base,
            &target(22, "10.0.1.23", None),
            at() + Duration::from_secs(1),
        )
        .expect("url");
        assert_ne!(one, two);
        assert!(two.contains("X-Amz-Date=20240501T120001Z"), "{two}");
    }

    #[test]
    fn base_urls() {
        let ok = [
            (
                "ws://127.0.0.1:8080",
                false,
                "127.0.0.1:8080",
                "127.0.0.1",
                8080,
            ),
            (
                "ws://127.0.0.1:8080/",
                false,
                "127.0.0.1:8080",
                "127.0.0.1",
                8080,
            ),
            (
                "wss://eice-1.example",
                true,
                "eice-1.example",
                "eice-1.example",
                443,
            ),
            ("ws://localhost", false, "localhost", "localhost", 80),
            ("ws://[::1]:9000", false, "[::1]:9000", "::1", 9000),
        ];
        for (value, secure, authority, host, port) in ok {
            let base = TunnelBase::parse(value, "X").expect(value);
            assert_eq!(
                (base.secure(), base.authority(), base.host(), base.port()),
                (secure, authority, host, port),
                "{value}"
            );
        }
        for bad in [
            "http://127.0.0.1:8080",
            "127.0.0.1:8080",
            "ws://127.0.0.1:8080/openTunnel",
            "ws://127.0.0.1:8080/?x=1",
            "ws://user@127.0.0.1",
            "",
        ] {
            assert!(
                matches!(
                    TunnelBase::parse(bad, "X"),
                    Err(EiceError::BadBaseUrl { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn encoding_keeps_only_unreserved_characters() {
        assert_eq!(encode("AZaz09-_.~"), "AZaz09-_.~");
        assert_eq!(encode("a/b+c=d e:"), "a%2Fb%2Bc%3Dd%20e%3A");
        assert_eq!(encode("é"), "%C3%A9");
    }
}
