//! `berth cp` and `berth tunnel`, as data: the scp and ssh command lines
//! made from an ssh plan, so that they go the same way (user, key, route,
//! bastion or endpoint ProxyCommand) as `berth ssh` would.

/// One side of a copy: a local path, or a path on the target host
/// (written `:PATH` or `TARGET:PATH`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyPath {
    Local(String),
    Remote(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CopyError {
    #[error("`berth cp` copies between this machine and one host, but {0}")]
    Direction(&'static str),
    #[error("`{0}` is not LOCAL:REMOTE (e.g. 8080:80, or 127.0.0.1:8080:localhost:80)")]
    Forward(String),
}

impl crate::model::hint::Hint for CopyError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Direction(_) => {
                "write the host's side as `:PATH` (e.g. `berth cp prod/web-1 :/var/log/ecs/ecs-agent.log .`)"
                    .to_owned()
            }
            Self::Forward(_) => "give the local port, then the port on the host".to_owned(),
        })
    }
}

/// A path as written: `:PATH` (or `HOST:PATH` with any host word) is on
/// the target host; anything else, including `./a:b` and `/tmp/a:b`, is
/// local, as scp reads it.
pub fn parse_path(word: &str) -> CopyPath {
    let local_looking = word.starts_with('/') || word.starts_with('.') || word.starts_with('~');
    match word.split_once(':') {
        Some((host, path)) if !local_looking && !host.contains('/') => {
            CopyPath::Remote(path.to_owned())
        }
        _ => CopyPath::Local(word.to_owned()),
    }
}

/// Checks that the copy goes one way between here and the host: sources
/// all remote and the destination local, or the reverse.
pub fn check_direction(sources: &[CopyPath], dest: &CopyPath) -> Result<(), CopyError> {
    let remote = |p: &CopyPath| matches!(p, CopyPath::Remote(_));
    match (
        sources.iter().all(remote),
        sources.iter().any(remote),
        remote(dest),
    ) {
        (true, _, false) | (false, false, true) => Ok(()),
        (_, _, true) => Err(CopyError::Direction("both sides are on the host")),
        (false, true, false) => Err(CopyError::Direction(
            "some sources are local and some remote",
        )),
        (false, false, false) => Err(CopyError::Direction("no side is on the host")),
    }
}

/// The scp command line for an ssh plan's argv (`ssh [OPTIONS] -- USER@ADDRESS`):
/// scp takes ssh's options, with `-P` for the port and `-S` for the ssh
/// program (so a ProxyCommand, the key and the user's config carry over).
pub fn scp_argv(
    scp: &str,
    ssh_argv: &[String],
    recursive: bool,
    sources: &[CopyPath],
    dest: &CopyPath,
) -> Vec<String> {
    let (program, rest) = ssh_argv
        .split_first()
        .map_or(("ssh", &[][..]), |(p, r)| (p.as_str(), r));
    let separator = rest.iter().position(|w| w == "--").unwrap_or(rest.len());
    let destination = rest.get(separator + 1).cloned().unwrap_or_default();
    let mut argv = vec![scp.to_owned(), "-S".to_owned(), program.to_owned()];
    if recursive {
        argv.push("-r".to_owned());
    }
    let mut options = rest[..separator].iter();
    while let Some(word) = options.next() {
        match word.as_str() {
            "-p" => {
                argv.push("-P".to_owned());
                argv.extend(options.next().cloned());
            }
            // A terminal means nothing to scp.
            "-t" | "-T" => {}
            _ => argv.push(word.clone()),
        }
    }
    argv.push("--".to_owned());
    let side = |p: &CopyPath| match p {
        CopyPath::Local(path) => path.clone(),
        CopyPath::Remote(path) => format!("{}:{path}", bracketed(&destination)),
    };
    argv.extend(sources.iter().map(side));
    argv.push(side(dest));
    argv
}

/// `USER@ADDRESS` with an IPv6 address in brackets, as scp wants it.
fn bracketed(destination: &str) -> String {
    match destination.rsplit_once('@') {
        Some((user, host)) if host.contains(':') => format!("{user}@[{host}]"),
        _ => destination.to_owned(),
    }
}

/// `berth tunnel`'s `LOCAL:REMOTE`, as ssh's `-L` spec: the local side on
/// 127.0.0.1 unless an address is given, the remote side on the host
/// itself (`localhost`) unless a host is given.
pub fn forward_spec(spec: &str) -> Result<String, CopyError> {
    let bad = || CopyError::Forward(spec.to_owned());
    let port = |w: &str| w.parse::<u16>().ok().filter(|p| *p > 0);
    let words: Vec<&str> = spec.split(':').collect();
    let (local, remote) = match words.as_slice() {
        [l, r] => (
            format!("127.0.0.1:{}", port(l).ok_or_else(bad)?),
            format!("localhost:{}", port(r).ok_or_else(bad)?),
        ),
        [a, l, r] if port(a).is_none() => (
            format!("{a}:{}", port(l).ok_or_else(bad)?),
            format!("localhost:{}", port(r).ok_or_else(bad)?),
        ),
        [l, h, r] => (
            format!("127.0.0.1:{}", port(l).ok_or_else(bad)?),
            format!("{h}:{}", port(r).ok_or_else(bad)?),
        ),
        [a, l, h, r] => (
            format!("{a}:{}", port(l).ok_or_else(bad)?),
            format!("{h}:{}", port(r).ok_or_else(bad)?),
        ),
        _ => return Err(bad()),
    };
    Ok(format!("{local}:{remote}"))
}

/// A forward `A:P:H:Q` as (`A:P`, `H:Q`).
pub fn split_forward(spec: &str) -> (&str, &str) {
    let mut colons = spec.match_indices(':').map(|(i, _)| i);
    match colons.nth(1) {
        Some(i) => (&spec[..i], &spec[i + 1..]),
        None => (spec, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn paths_on_the_host_start_with_a_colon() {
        assert_eq!(
            parse_path(":/etc/os-release"),
            CopyPath::Remote("/etc/os-release".into())
        );
        assert_eq!(
            parse_path("web-1:/tmp/x"),
            CopyPath::Remote("/tmp/x".into())
        );
        assert_eq!(parse_path("./a:b"), CopyPath::Local("./a:b".into()));
        assert_eq!(parse_path("/tmp/a:b"), CopyPath::Local("/tmp/a:b".into()));
        assert_eq!(parse_path("dir/a:b"), CopyPath::Local("dir/a:b".into()));
        assert_eq!(parse_path("notes.txt"), CopyPath::Local("notes.txt".into()));
    }

    #[test]
    fn one_direction_only() {
        let r = |p: &str| CopyPath::Remote(p.into());
        let l = |p: &str| CopyPath::Local(p.into());
        assert!(check_direction(&[r("/a"), r("/b")], &l(".")).is_ok());
        assert!(check_direction(&[l("a")], &r("/tmp")).is_ok());
        assert!(check_direction(&[r("/a")], &r("/tmp")).is_err());
        assert!(check_direction(&[r("/a"), l("b")], &l(".")).is_err());
        assert!(check_direction(&[l("a")], &l("b")).is_err());
    }

    #[test]
    fn scp_takes_the_plans_ssh_options() {
        let ssh = words(
            "ssh -p 2222 -o ProxyCommand=x -t -i /k.pem -o IdentitiesOnly=yes -- ec2-user@10.0.0.5",
        );
        let argv = scp_argv(
            "scp",
            &ssh,
            true,
            &[CopyPath::Remote("/var/log/ecs".into())],
            &CopyPath::Local(".".into()),
        );
        assert_eq!(
            argv.join(" "),
            "scp -S ssh -r -P 2222 -o ProxyCommand=x -i /k.pem -o IdentitiesOnly=yes -- \
             ec2-user@10.0.0.5:/var/log/ecs ."
        );
        let v6 = scp_argv(
            "scp",
            &words("ssh -- ec2-user@2600:1f18::5"),
            false,
            &[CopyPath::Local("a".into())],
            &CopyPath::Remote("/tmp/".into()),
        );
        assert_eq!(
            v6.join(" "),
            "scp -S ssh -- a ec2-user@[2600:1f18::5]:/tmp/"
        );
    }

    #[test]
    fn forward_specs() {
        assert_eq!(
            forward_spec("8080:80").as_deref(),
            Ok("127.0.0.1:8080:localhost:80")
        );
        assert_eq!(
            forward_spec("0.0.0.0:8080:80").as_deref(),
            Ok("0.0.0.0:8080:localhost:80")
        );
        assert_eq!(
            forward_spec("5432:db.internal:5432").as_deref(),
            Ok("127.0.0.1:5432:db.internal:5432")
        );
        for bad in ["80", "x:80", "8080:0", "1:2:3:4:5", "8080:99999"] {
            assert!(forward_spec(bad).is_err(), "{bad}");
        }
    }
}
