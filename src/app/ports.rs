//! Port forwarding over Session Manager with berth's own client
//! (`transport::ssm::ports`): `berth tunnel` on the `ssm` route (one port
//! session per forward, many local connections over each) and the tunnel
//! `berth rdp --via ssm` holds open while its client runs. Every session
//! started is terminated, whatever happened (an error, Ctrl-C).

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use tokio::net::TcpListener;

use crate::aws::Aws;
use crate::error::Error;
use crate::model::host::Host;
use crate::model::network::SessionGrant;
use crate::transport::session::Interrupts;
use crate::transport::ssm::ports::{self, Mode, Notice, PortOptions};
use crate::transport::ssm::{SessionError, destination_hint};

use super::Context;
use super::request::Connect;
use super::ssm::{Parameters, open_channel, refusal, terminate};

/// A port on the instance itself.
pub const PORT_DOCUMENT: &str = "AWS-StartPortForwardingSession";
/// A host the instance reaches (a database behind it).
pub const REMOTE_HOST_DOCUMENT: &str = "AWS-StartPortForwardingSessionToRemoteHost";

/// One forward: where berth listens, and what the agent connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortForward {
    /// `ADDRESS:PORT` to listen on (port 0: any free one).
    pub listen: String,
    /// The host the agent dials; `None` for the instance itself.
    pub host: Option<String>,
    pub port: u16,
}

impl PortForward {
    /// From a forward as `plan::copy::forward_spec` writes it,
    /// `ADDRESS:LOCAL:HOST:PORT`; `localhost` is the instance itself.
    pub fn from_spec(spec: &str) -> Option<PortForward> {
        let mut words = spec.rsplitn(3, ':');
        let port = words.next()?.parse().ok()?;
        let host = words.next()?;
        let listen = words.next()?.to_owned();
        Some(PortForward {
            listen,
            host: (!host.eq_ignore_ascii_case("localhost")).then(|| host.to_owned()),
            port,
        })
    }

    /// The session document that carries it.
    pub fn document(&self) -> &'static str {
        if self.host.is_some() {
            REMOTE_HOST_DOCUMENT
        } else {
            PORT_DOCUMENT
        }
    }

    /// The document's parameters, with the port berth listens on.
    pub fn parameters(&self, local_port: u16) -> Parameters {
        let mut parameters = Parameters::new();
        parameters.insert("portNumber".to_owned(), vec![self.port.to_string()]);
        parameters.insert("localPortNumber".to_owned(), vec![local_port.to_string()]);
        if let Some(host) = &self.host {
            parameters.insert("host".to_owned(), vec![host.clone()]);
        }
        parameters
    }

    /// The local port asked for (0: any free one).
    pub fn local_port(&self) -> u16 {
        self.listen
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    /// `HOST:PORT` as the instance sees it.
    pub fn destination(&self) -> String {
        format!(
            "{}:{}",
            self.host.as_deref().unwrap_or("localhost"),
            self.port
        )
    }
}

/// A forward that is listening (what `--output json` prints).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listening {
    /// Where berth listens.
    pub local: String,
    /// What the instance connects to.
    pub destination: String,
    pub instance_id: String,
    pub document: String,
    pub session_id: String,
}

/// `berth tunnel` when its route is `ssm` (`app::tunnel`'s transport
/// step): listens for every forward, starts one port session each on
/// `host`, says where it listens (and gives the list to `listening`), then
/// carries connections until Ctrl-C (exit 0) or a session fails.
pub async fn tunnel(
    ctx: &Context,
    (host, aws): (&Host, &Aws),
    connect: &Connect,
    forwards: &[PortForward],
    interrupts: &mut Interrupts,
    listening: &mut dyn FnMut(&[Listening]) -> Result<(), Error>,
) -> Result<u8, Error> {
    let aws = aws.clone();
    let target = host.ec2.instance_id.clone();
    let name = host.name().map_or_else(String::new, |n| format!(" ({n})"));
    // Listen first: a port in use should not cost a session.
    let mut listeners = Vec::new();
    for forward in forwards {
        listeners.push(ports::listen(&forward.listen).await?);
    }
    let mut grants: Vec<SessionGrant> = Vec::new();
    let result = async {
        let mut opened = Vec::new();
        for (forward, listener) in forwards.iter().zip(&listeners) {
            let local = local_address(listener)?;
            let grant = start(ctx, &aws, &target, forward, local.port()).await?;
            opened.push(Listening {
                local: local.to_string(),
                destination: forward.destination(),
                instance_id: target.clone(),
                document: forward.document().to_owned(),
                session_id: grant.session_id.clone(),
            });
            grants.push(grant);
        }
        for open in &opened {
            ctx.reporter.say(&format!(
                "forwarding {} to {} on {target}{name} over Session Manager; Ctrl-C to stop",
                open.local, open.destination
            ));
        }
        listening(&opened)?;
        if interrupts.pending().is_some() {
            return Ok(0);
        }
        let mut runs = Vec::new();
        for ((forward, listener), grant) in forwards.iter().zip(listeners).zip(&grants) {
            runs.push(carry(
                ctx,
                &aws,
                &target,
                forward,
                listener,
                (grant, connect.resume_for),
            ));
        }
        tokio::select! {
            ended = futures::future::try_join_all(runs) => ended.map(|_| 0),
            // Ctrl-C is how a tunnel is meant to end.
            _ = interrupts.next() => Ok(0),
        }
    }
    .await;
    for grant in &grants {
        terminate(ctx, &aws, &grant.session_id).await;
    }
    result
}

/// StartSession for one forward.
async fn start(
    ctx: &Context,
    aws: &Aws,
    target: &str,
    forward: &PortForward,
    local_port: u16,
) -> Result<SessionGrant, Error> {
    let document = forward.document();
    let grant = ctx
        .phase(
            "start-session",
            aws.start_session(target, Some(document), &forward.parameters(local_port)),
        )
        .await
        .map_err(|e| refusal(target, e))?;
    ctx.verbose(&format!(
        "Session Manager session {} on {target} ({document}, {})",
        grant.session_id,
        forward.destination()
    ));
    Ok(grant)
}

fn local_address(listener: &TcpListener) -> Result<SocketAddr, Error> {
    listener.local_addr().map_err(|source| {
        Error::from(crate::transport::TransportError::Listen {
            address: "the local end".to_owned(),
            source,
        })
    })
}

/// One forward's session: its channel, then connections until it closes.
async fn carry(
    ctx: &Context,
    aws: &Aws,
    target: &str,
    forward: &PortForward,
    listener: TcpListener,
    (grant, resume_for): (&SessionGrant, Option<Duration>),
) -> Result<(), Error> {
    let destination = forward.destination();
    let channel = open_channel(ctx, aws, grant, resume_for).await?;
    let notify = |notice: Notice| say(ctx, target, &destination, notice);
    let outcome = ports::run(channel, listener, PortOptions::default(), &notify)
        .await
        .map_err(|e| SessionError::from_ports(target, &destination, e))?;
    let why = if outcome.message.is_empty() {
        String::new()
    } else {
        format!(": {}", outcome.message)
    };
    // The service ended it (TerminateSession elsewhere, an idle timeout):
    // the forward is over.
    ctx.reporter.warn(&format!(
        "Session Manager closed the session forwarding to {destination} on {target}{why}"
    ));
    Ok(())
}

/// What the forwarder noticed, for the operator.
fn say(ctx: &Context, target: &str, destination: &str, notice: Notice) {
    match notice {
        Notice::Started {
            mode: Mode::Basic,
            agent_version,
        } => ctx.reporter.warn_with_hints(
            &format!(
                "the SSM agent on {target} ({}) forwards one connection at a time",
                agent_version.as_deref().unwrap_or("version unknown")
            ),
            &[
                "update the SSM agent: versions after 3.0.196.0 carry many connections at once"
                    .to_owned(),
            ],
        ),
        Notice::Started {
            mode: Mode::Multiplexed,
            agent_version,
        } => ctx.verbose(&format!(
            "the SSM agent on {target} ({}) multiplexes connections (smux)",
            agent_version.as_deref().unwrap_or("version unknown")
        )),
        Notice::Accepted { id, peer } => {
            ctx.verbose(&format!("connection {id} from {peer} to {destination}"));
        }
        Notice::Refused { id } => ctx.reporter.warn_with_hints(
            &format!(
                "the SSM agent on {target} could not connect to {destination}{}",
                if id == 0 {
                    String::new()
                } else {
                    format!(" (connection {id} closed)")
                }
            ),
            &[destination_hint(target, destination)],
        ),
        Notice::EndedEmpty { id } => ctx.reporter.warn_with_hints(
            &format!(
                "connection {id} to {destination} on {target} closed before anything came back: \
                 the SSM agent could not connect to {destination}, or it closed the connection \
                 at once"
            ),
            &[destination_hint(target, destination)],
        ),
        Notice::Closed { id, sent, received } => ctx.verbose(&format!(
            "connection {id} to {destination} closed: {sent} bytes sent, {received} received"
        )),
        Notice::Resumed => {
            ctx.verbose("the session's connection broke and was resumed");
        }
    }
}

/// A port session held open for a client (`berth rdp --via ssm`): the
/// listener bound and the session started; [`HeldPorts::serve`] carries
/// connections, [`HeldPorts::close`] terminates the session.
pub struct HeldPorts {
    aws: Aws,
    target: String,
    forward: PortForward,
    grant: SessionGrant,
    listener: Option<TcpListener>,
    resume_for: Option<Duration>,
}

impl HeldPorts {
    /// Listens on 127.0.0.1:`local_port` for `port` on `target`; a broken
    /// connection may take `resume_for` to come back.
    pub async fn open(
        ctx: &Context,
        aws: &Aws,
        target: &str,
        (port, local_port): (u16, u16),
        resume_for: Option<Duration>,
    ) -> Result<HeldPorts, Error> {
        let forward = PortForward {
            listen: format!("127.0.0.1:{local_port}"),
            host: None,
            port,
        };
        let listener = ports::listen(&forward.listen).await?;
        let grant = start(ctx, aws, target, &forward, local_port).await?;
        Ok(HeldPorts {
            aws: aws.clone(),
            target: target.to_owned(),
            forward,
            grant,
            listener: Some(listener),
            resume_for,
        })
    }

    /// Carries connections; when the session ends, says why and waits
    /// (the client decides when it is over). Never returns.
    pub async fn serve(&mut self, ctx: &Context) {
        if let Some(listener) = self.listener.take() {
            let carried = carry(
                ctx,
                &self.aws,
                &self.target,
                &self.forward,
                listener,
                (&self.grant, self.resume_for),
            )
            .await;
            if let Err(e) = carried {
                let hints = e.hints().to_vec();
                ctx.reporter.problem(&e.to_string(), &hints);
            }
        }
        std::future::pending::<()>().await;
    }

    /// Terminates the session.
    pub async fn close(self, ctx: &Context) {
        terminate(ctx, &self.aws, &self.grant.session_id).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_choose_their_document() {
        let local = PortForward::from_spec("127.0.0.1:8080:localhost:80").expect("spec");
        assert_eq!(
            local,
            PortForward {
                listen: "127.0.0.1:8080".into(),
                host: None,
                port: 80
            }
        );
        assert_eq!(local.document(), PORT_DOCUMENT);
        let parameters = local.parameters(8080);
        assert_eq!(parameters["portNumber"], ["80"]);
        assert_eq!(parameters["localPortNumber"], ["8080"]);
        assert!(!parameters.contains_key("host"));
        assert_eq!(local.destination(), "localhost:80");
        assert_eq!(local.local_port(), 8080);

        let remote = PortForward::from_spec("0.0.0.0:5432:db.internal:5433").expect("spec");
        assert_eq!(remote.listen, "0.0.0.0:5432");
        assert_eq!(remote.document(), REMOTE_HOST_DOCUMENT);
        let parameters = remote.parameters(40000);
        assert_eq!(parameters["host"], ["db.internal"]);
        assert_eq!(parameters["portNumber"], ["5433"]);
        assert_eq!(parameters["localPortNumber"], ["40000"]);
        assert_eq!(remote.destination(), "db.internal:5433");

        assert_eq!(PortForward::from_spec("8080"), None);
    }

    #[test]
    fn a_refused_destination_is_named_and_is_a_failed_connection() {
        use crate::transport::ssm::ports::PortError;
        let e = Error::from(SessionError::from_ports(
            "i-1",
            "db.internal:5432",
            PortError::Refused {
                message: "bye".into(),
            },
        ));
        assert_eq!(e.exit_code(), 255);
        assert_eq!(
            e.to_string(),
            "the SSM agent on i-1 could not connect to db.internal:5432: bye"
        );
        assert!(
            e.hints().iter().any(|h| h.contains("sudo ss -ltnp")),
            "{:?}",
            e.hints()
        );
        let listen = Error::from(crate::transport::TransportError::Listen {
            address: "127.0.0.1:80".into(),
            source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
        });
        assert_eq!(listen.exit_code(), 4);
        assert!(
            listen
                .hints()
                .iter()
                .any(|h| h.contains("another local port"))
        );
    }
}
