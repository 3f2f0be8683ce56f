//! `--detect-ip`: ask an address-echo service (by default AWS's
//! checkip.amazonaws.com) which address our connections come from. One
//! plain HTTP/1.0 GET whose body is the address; used only when asked.

use std::net::IpAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum EchoError {
    #[error("`{0}` is not an http:// URL berth can ask for your address")]
    BadUrl(String),
    #[error("cannot ask {url} for your address: {detail}")]
    Failed { url: String, detail: String },
}

/// Host, port and path of an `http://` URL.
fn split_url(url: &str) -> Option<(String, u16, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (authority, 80),
    };
    (!host.is_empty()).then(|| (host.to_owned(), port, path))
}

/// The address in an HTTP response: status 200, body one address.
fn parse_response(response: &str) -> Option<IpAddr> {
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.lines().next()?;
    if status.split_whitespace().nth(1)? != "200" {
        return None;
    }
    body.trim().parse().ok()
}

pub async fn public_address(url: &str) -> Result<IpAddr, EchoError> {
    let (host, port, path) = split_url(url).ok_or_else(|| EchoError::BadUrl(url.to_owned()))?;
    let failed = |detail: String| EchoError::Failed {
        url: url.to_owned(),
        detail,
    };
    let exchange = async {
        let mut stream = TcpStream::connect((host.as_str(), port)).await?;
        let request = format!(
            "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: berth\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.take(64 * 1024).read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    let response = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| failed(format!("no answer within {}s", TIMEOUT.as_secs())))?
        .map_err(|e| failed(e.to_string()))?;
    parse_response(&String::from_utf8_lossy(&response))
        .ok_or_else(|| failed("the answer is not an address".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            split_url("http://checkip.amazonaws.com/"),
            Some(("checkip.amazonaws.com".into(), 80, "/".into()))
        );
        assert_eq!(
            split_url("http://127.0.0.1:8080/ip"),
            Some(("127.0.0.1".into(), 8080, "/ip".into()))
        );
        assert_eq!(
            split_url("http://example.test"),
            Some(("example.test".into(), 80, "/".into()))
        );
        assert_eq!(split_url("https://checkip.amazonaws.com/"), None);
        assert_eq!(split_url("http://:80/"), None);
    }

    #[test]
    fn responses() {
        assert_eq!(
            parse_response("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n198.51.100.7\n"),
            Some("198.51.100.7".parse().expect("ip"))
        );
        assert_eq!(
            parse_response("HTTP/1.1 200 OK\r\n\r\n2001:db8::1"),
            Some("2001:db8::1".parse().expect("ip"))
        );
        assert_eq!(
            parse_response("HTTP/1.1 503 Busy\r\n\r\n198.51.100.7"),
            None
        );
        assert_eq!(parse_response("HTTP/1.1 200 OK\r\n\r\n<html>"), None);
    }
}
