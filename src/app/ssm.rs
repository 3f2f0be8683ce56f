//! `berth session`: a shell (or a command) on a host through Session
//! Manager, with berth's own client (`transport::ssm`): resolve the host,
//! StartSession, open the data channel (resumed through ResumeSession when
//! its socket breaks), run the pump, and TerminateSession whatever
//! happened.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use crate::aws::{Aws, AwsError};
use crate::error::Error;
use crate::model::network::{DataKey, SessionGrant};
use crate::transport::session::Interrupts;
use crate::transport::ssm::SessionError;
use crate::transport::ssm::channel::{Channel, ChannelOptions, Resume, ResumeError, Resumed};
use crate::transport::ssm::kms::{self, DataKeyError, DataKeys};
use crate::transport::ssm::message::TerminalSize;
use crate::transport::ssm::shell::{self, ShellEnd, ShellOptions, ShellOutcome};
use crate::transport::ssm::stream::{self, StreamEnd, StreamOptions};

use super::Context;
use super::request::Connect;

/// The document a command runs through on a terminal.
pub const INTERACTIVE_COMMAND: &str = "AWS-StartInteractiveCommand";
/// The document a command runs through without one (its exit status comes
/// back).
pub const NON_INTERACTIVE_COMMAND: &str = "AWS-StartNonInteractiveCommand";

/// The document ssh goes over (`--via ssm`): a port session to the
/// instance's own sshd.
pub const SSH_DOCUMENT: &str = "AWS-StartSSHSession";

/// What `berth session` was asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionRequest {
    pub connect: Connect,
    /// `--document NAME` (none: the shell).
    pub document: Option<String>,
    /// `--parameter KEY=VALUE`, repeated keys collected in order.
    pub parameters: Parameters,
    /// `-- CMD…`.
    pub command: Vec<String>,
}

/// The operator's side, which `ui` provides.
pub struct Console {
    /// Standard input is a terminal.
    pub interactive: bool,
    /// The terminal's size (columns, rows), when stdout is one.
    pub size: fn() -> Option<(u16, u16)>,
    /// Raw mode until the guard is dropped.
    pub raw: fn() -> std::io::Result<Box<dyn Send>>,
    /// Starts reading input: chunks as they come, the channel's end is
    /// EOF. Called only once the session is open (a picker may read the
    /// terminal before).
    pub input: fn() -> mpsc::Receiver<Vec<u8>>,
    pub out: Box<dyn AsyncWrite + Unpin + Send>,
    pub err: Box<dyn AsyncWrite + Unpin + Send>,
}

/// A document's parameters: each name with its values.
pub type Parameters = BTreeMap<String, Vec<String>>;

/// The document and parameters StartSession gets.
pub fn document_for(
    request: &SessionRequest,
    interactive: bool,
) -> Result<(Option<String>, Parameters), Error> {
    if request.command.is_empty() {
        return Ok((request.document.clone(), request.parameters.clone()));
    }
    if let Some(document) = &request.document {
        return Err(Error::usage(
            format!("-- COMMAND and --document {document} cannot go together"),
            "pass the command as the document's parameter (--parameter KEY=VALUE), or drop \
             --document",
        ));
    }
    let mut parameters = request.parameters.clone();
    parameters.insert("command".to_owned(), vec![request.command.join(" ")]);
    let document = if interactive {
        INTERACTIVE_COMMAND
    } else {
        parameters
            .entry("separateOutputStream".to_owned())
            .or_insert_with(|| vec!["true".to_owned()]);
        NON_INTERACTIVE_COMMAND
    };
    Ok((Some(document.to_owned()), parameters))
}

/// Runs the session and returns berth's exit status (the remote one when
/// the agent says it, else 0; 255 after `~.`; 128 + N after signal N).
pub async fn session(
    ctx: &Context,
    request: &SessionRequest,
    console: Console,
) -> Result<u8, Error> {
    let (document, parameters) = document_for(request, console.interactive)?;
    let (host, aws) = super::resolve_host(ctx, &request.connect).await?;
    let target = host.ec2.instance_id.clone();
    let grant = ctx
        .phase(
            "start-session",
            aws.start_session(&target, document.as_deref(), &parameters),
        )
        .await
        .map_err(|e| refusal(&target, e))?;
    ctx.verbose(&format!(
        "Session Manager session {} on {target}{}",
        grant.session_id,
        document
            .as_deref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default()
    ));
    let result = run(
        ctx,
        &aws,
        &grant,
        (&target, request.connect.resume_for),
        console,
    )
    .await
    .map(|outcome| outcome.exit_code());
    // Whatever happened, the session ends on the service's side too.
    terminate(ctx, &aws, &grant.session_id).await;
    result
}

/// `berth proxy --via ssm`: carries `input` to `port` on the instance
/// `target` and its bytes to `output`, over an AWS-StartSSHSession port
/// session, until the input ends or the port closes the connection; the
/// session is terminated whatever happened. A broken connection may take
/// `resume_for` to come back (`None`: the channel's default).
pub async fn carry_port<I, O>(
    ctx: &Context,
    aws: &Aws,
    target: &str,
    port: u16,
    resume_for: Option<Duration>,
    (input, output): (I, O),
    interrupts: &mut Interrupts,
) -> Result<u8, Error>
where
    I: AsyncRead + Unpin,
    O: AsyncWrite + Unpin,
{
    let mut parameters = Parameters::new();
    parameters.insert("portNumber".to_owned(), vec![port.to_string()]);
    let grant = ctx
        .phase(
            "start-session",
            aws.start_session(target, Some(SSH_DOCUMENT), &parameters),
        )
        .await
        .map_err(|e| refusal(target, e))?;
    ctx.verbose(&format!(
        "Session Manager session {} on {target} ({SSH_DOCUMENT}, port {port})",
        grant.session_id
    ));
    let result = async {
        if let Some(signal) = interrupts.pending() {
            return Ok(u8::try_from(128 + signal).unwrap_or(255));
        }
        let channel = open_channel(ctx, aws, &grant, resume_for).await?;
        let outcome = stream::run(
            channel,
            input,
            output,
            port,
            interrupts,
            StreamOptions::default(),
        )
        .await
        .map_err(|e| SessionError::from_stream(target, e))?;
        if outcome.resumed > 0 {
            ctx.verbose(&format!(
                "the session's connection broke and was resumed {} time(s)",
                outcome.resumed
            ));
        }
        match &outcome.end {
            StreamEnd::Closed(message) if !message.is_empty() => {
                ctx.verbose(&format!("Session Manager closed the session: {message}"));
            }
            StreamEnd::Closed(_) => ctx.verbose("proxy: the port closed the connection"),
            StreamEnd::InputEnded => ctx.verbose("proxy: the input ended"),
            StreamEnd::Signalled(n) => ctx.verbose(&format!("proxy: signal {n}: ending")),
        }
        ctx.verbose(&format!(
            "proxy: {} bytes sent, {} received",
            outcome.sent, outcome.received
        ));
        Ok::<u8, Error>(outcome.exit_code())
    }
    .await;
    terminate(ctx, aws, &grant.session_id).await;
    result
}

/// TerminateSession; a failure is only a warning (the service ends an
/// idle session on its own).
pub(super) async fn terminate(ctx: &Context, aws: &Aws, session_id: &str) {
    if let Err(e) = aws.terminate_session(session_id).await {
        ctx.reporter.warn(&format!(
            "could not end session {session_id} (it ends on its own when idle): {e}"
        ));
    }
}

/// The session's data channel, resumed through ResumeSession when its
/// socket breaks; `ws://` only when the SSM endpoint is on this machine.
pub(super) async fn open_channel(
    ctx: &Context,
    aws: &Aws,
    grant: &SessionGrant,
    resume_for: Option<Duration>,
) -> Result<Channel, Error> {
    let defaults = ChannelOptions::default();
    let options = ChannelOptions {
        allow_plain: aws.plain_streams_allowed(),
        proxy: ctx.settings.proxy.clone(),
        ca_bundle: aws.ca_bundle().cloned(),
        resume_for: resume_for.unwrap_or(defaults.resume_for),
        ..defaults
    };
    let resume = Arc::new(Resumer {
        aws: aws.clone(),
        session_id: grant.session_id.clone(),
    });
    Ok(
        Channel::open(&grant.stream_url, &grant.token, options, resume)
            .await
            .map_err(SessionError::from)?,
    )
}

/// The shell pump over the session's channel, on the operator's console
/// (raw while it runs when it is a terminal); `target` is StartSession's
/// (the KMS encryption context's).
pub(super) async fn run(
    ctx: &Context,
    aws: &Aws,
    grant: &SessionGrant,
    (target, resume_for): (&str, Option<Duration>),
    console: Console,
) -> Result<ShellOutcome, Error> {
    let channel = open_channel(ctx, aws, grant, resume_for).await?;
    let data_keys = Arc::new(SessionKeys {
        aws: aws.clone(),
        session_id: grant.session_id.clone(),
        target: target.to_owned(),
    });
    let size = console.size;
    let shell_options = ShellOptions {
        size: Box::new(move || {
            size().map(|(cols, rows)| TerminalSize {
                cols: u32::from(cols),
                rows: u32::from(rows),
            })
        }),
        escape: console.interactive,
        watch_resize: true,
        data_keys: Some(data_keys),
        ..ShellOptions::default()
    };
    let outcome = {
        let _raw = if console.interactive {
            Some((console.raw)()?)
        } else {
            None
        };
        shell::run(
            channel,
            (console.input)(),
            console.out,
            console.err,
            shell_options,
        )
        .await
    }
    .map_err(SessionError::from)?;
    if outcome.resumed > 0 {
        ctx.verbose(&format!(
            "the session's connection broke and was resumed {} time(s)",
            outcome.resumed
        ));
    }
    match &outcome.end {
        ShellEnd::Closed(message) if !message.is_empty() => {
            ctx.verbose(&format!("Session Manager closed the session: {message}"));
        }
        ShellEnd::Escaped => ctx.verbose("~. typed: ending the session"),
        _ => {}
    }
    Ok(outcome)
}

/// StartSession's refusals, as berth names them.
pub(super) fn refusal(target: &str, e: AwsError) -> Error {
    match &e {
        AwsError::Service { code, message, .. } if code.contains("TargetNotConnected") => {
            SessionError::NotConnected {
                target: target.to_owned(),
                message: message.clone(),
            }
            .into()
        }
        AwsError::Service { code, message, .. } if code.contains("AccessDenied") => {
            SessionError::AccessDenied {
                target: target.to_owned(),
                message: message.clone(),
            }
            .into()
        }
        AwsError::Service { code, message, .. }
            if code.starts_with("InvalidDocument") || code.starts_with("InvalidParameter") =>
        {
            SessionError::BadDocument {
                message: format!("{code}: {message}"),
            }
            .into()
        }
        _ => e.into(),
    }
}

/// GenerateDataKey for a KMS-encrypted session: 64 bytes under the key the
/// agent names, bound to the session and its target (the context the agent
/// decrypts the key with: `transport::ssm::kms`).
struct SessionKeys {
    aws: Aws,
    session_id: String,
    /// StartSession's Target.
    target: String,
}

/// The encryption context of a session's data key.
fn encryption_context(session_id: &str, target: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("aws:ssm:SessionId".to_owned(), session_id.to_owned()),
        ("aws:ssm:TargetId".to_owned(), target.to_owned()),
    ])
}

impl DataKeys for SessionKeys {
    fn data_key<'a>(
        &'a self,
        key_id: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<DataKey, DataKeyError>> + Send + 'a>> {
        Box::pin(async move {
            self.aws
                .generate_data_key(
                    key_id,
                    kms::DATA_KEY_BYTES,
                    &encryption_context(&self.session_id, &self.target),
                )
                .await
                .map_err(|e| DataKeyError {
                    denied: e.code().is_some_and(|c| c.contains("AccessDenied")),
                    message: e.to_string(),
                })
        })
    }
}

/// ResumeSession for the channel: a missing token (the session is over)
/// or a refusal ends it; anything else is tried again.
struct Resumer {
    aws: Aws,
    session_id: String,
}

impl Resume for Resumer {
    fn resume(&self) -> Pin<Box<dyn Future<Output = Result<Resumed, ResumeError>> + Send + '_>> {
        Box::pin(async move {
            match self.aws.resume_session(&self.session_id).await {
                Ok(grant) => Ok(Resumed {
                    stream_url: grant.stream_url,
                    token: grant.token,
                }),
                Err(e @ (AwsError::Other { .. } | AwsError::Credentials { .. })) => {
                    Err(ResumeError::Fatal(e.to_string()))
                }
                Err(e @ AwsError::Service { .. })
                    if e.code().is_some_and(|c| {
                        c.contains("AccessDenied")
                            || c.contains("DoesNotExist")
                            || c.contains("InvalidParameter")
                    }) =>
                {
                    Err(ResumeError::Fatal(e.to_string()))
                }
                Err(e) => Err(ResumeError::Retry(e.to_string())),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_picks_its_document() {
        let request = SessionRequest {
            command: vec!["echo".into(), "hi".into()],
            ..SessionRequest::default()
        };
        let (document, parameters) = document_for(&request, true).expect("ok");
        assert_eq!(document.as_deref(), Some(INTERACTIVE_COMMAND));
        assert_eq!(parameters["command"], ["echo hi"]);
        let (document, parameters) = document_for(&request, false).expect("ok");
        assert_eq!(document.as_deref(), Some(NON_INTERACTIVE_COMMAND));
        assert_eq!(parameters["separateOutputStream"], ["true"]);
        let both = SessionRequest {
            document: Some("X".into()),
            ..request
        };
        assert_eq!(
            document_for(&both, false).expect_err("refused").exit_code(),
            2
        );
        let shell = SessionRequest::default();
        assert_eq!(document_for(&shell, true).expect("ok").0, None);
    }

    #[test]
    fn the_data_key_is_bound_to_the_session_and_its_target() {
        assert_eq!(
            encryption_context("me-0123456789abcdef0", "i-0abc"),
            BTreeMap::from([
                (
                    "aws:ssm:SessionId".to_owned(),
                    "me-0123456789abcdef0".to_owned()
                ),
                ("aws:ssm:TargetId".to_owned(), "i-0abc".to_owned()),
            ])
        );
    }

    #[test]
    fn refusals_get_their_exit_codes() {
        let service = |code: &str| AwsError::Service {
            operation: "ssm:StartSession",
            code: code.into(),
            message: "m".into(),
        };
        let not_connected = refusal("i-1", service("TargetNotConnected"));
        assert_eq!(not_connected.exit_code(), 4);
        assert!(
            not_connected
                .to_string()
                .contains("the SSM agent on i-1 is not connected")
        );
        assert_eq!(
            refusal("i-1", service("AccessDeniedException")).exit_code(),
            5
        );
        assert_eq!(refusal("i-1", service("InvalidDocument")).exit_code(), 2);
        assert_eq!(refusal("i-1", service("Throttling")).exit_code(), 5);
    }
}
