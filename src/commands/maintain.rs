//! `berth maintain TARGET --batch N -- COMMAND`: batch by batch, drain the
//! container instances, run the command, make them ACTIVE again (the work
//! is `app::fleet::maintain`), then what each was left in.

use std::io::Write;

use crate::app::Context;
use crate::app::fleet::MaintainRequest;
use crate::app::fleet::maintain::maintain;
use crate::app::request::Connect;
use crate::cli::{MaintainArgs, OutputFormat};
use crate::error::Error;
use crate::fleet::maintain::exit_code;
use crate::ui::render;

pub async fn run(ctx: &Context, args: &MaintainArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let request = MaintainRequest {
        connect: Connect::from(&args.connect),
        batch: args.batch,
        drain_timeout: args.drain_timeout,
        timeout: args.timeout,
        command: args.command.clone(),
        echo: matches!(ctx.settings.output, OutputFormat::Table),
    };
    let outcomes = maintain(ctx, &request).await?;
    match ctx.settings.output {
        OutputFormat::Json => render::json(out, &serde_json::json!({ "instances": outcomes }))?,
        OutputFormat::Table => render::maintain_summary(
            &mut std::io::stderr().lock(),
            &outcomes,
            render::stderr_palette(&ctx.settings),
        )?,
    }
    Ok(exit_code(&outcomes))
}
