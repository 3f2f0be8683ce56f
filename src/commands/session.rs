//! `berth session TARGET [--document NAME] [--parameter KEY=VALUE]… [-- CMD…]`:
//! a shell or command through Session Manager (`app::ssm`), on the
//! terminal `ui::term` holds in raw mode while it runs.

use std::fs::File;
use std::io::{self, IsTerminal};
use std::os::fd::AsFd;

use crate::app::Context;
use crate::app::ssm::{self, Console, SessionRequest};
use crate::cli::SessionArgs;
use crate::error::Error;
use crate::transport::ssm::shell::stdin_chunks;
use crate::ui::term;

pub async fn run(ctx: &Context, args: &SessionArgs) -> Result<u8, Error> {
    let request = SessionRequest::from(args);
    // Written through descriptors of their own: the process's stdout lock
    // is held by the caller.
    let out = File::from(io::stdout().as_fd().try_clone_to_owned()?);
    let err = File::from(io::stderr().as_fd().try_clone_to_owned()?);
    let console = Console {
        interactive: io::stdin().is_terminal(),
        size: term::size,
        raw: || term::Raw::enter().map(|raw| Box::new(raw) as Box<dyn Send>),
        input: stdin_chunks,
        out: Box::new(tokio::fs::File::from_std(out)),
        err: Box::new(tokio::fs::File::from_std(err)),
    };
    ssm::session(ctx, &request, console).await
}
