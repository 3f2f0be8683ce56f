//! `berth session TARGET [--document NAME] [--parameter KEY=VALUE]… [-- CMD…]`:
//! a shell or command through Session Manager (`app::ssm`), on the
//! terminal `ui::term` holds in raw mode while it runs.

use crate::app::Context;
use crate::app::ssm::{self, SessionRequest};
use crate::cli::SessionArgs;
use crate::error::Error;
use crate::ui::term;

pub async fn run(ctx: &Context, args: &SessionArgs) -> Result<u8, Error> {
    let request = SessionRequest::from(args);
    ssm::session(ctx, &request, term::console()?).await
}
