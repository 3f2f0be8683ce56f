//! `berth run TARGET -- COMMAND`: the command on every host the target
//! matches, then what happened on each host (the work is
//! `app::fleet::run`).

use std::io::Write;

use crate::app::Context;
use crate::app::fleet::{self, FleetRun, RunRequest};
use crate::app::request::Connect;
use crate::cli::{Engine, OutputFormat, RunArgs};
use crate::error::Error;
use crate::fleet::Tally;
use crate::ui::render;

pub async fn run(ctx: &Context, args: &RunArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let table = matches!(ctx.settings.output, OutputFormat::Table);
    let request = RunRequest {
        connect: Connect::from(&args.connect),
        engine: match args.engine {
            Engine::Ssh => fleet::Engine::Ssh,
            Engine::Ssm => fleet::Engine::Ssm,
        },
        spec: FleetRun {
            jobs: args.jobs,
            timeout: args.timeout,
            port: args.port,
            options: args.connect.ssh_options.clone(),
            command: args.command.clone(),
        },
        echo: table && !args.group,
    };
    let reports = fleet::run::run(ctx, &request).await?;
    let tally = Tally::of(&reports);
    match ctx.settings.output {
        OutputFormat::Json => render::json(
            out,
            &serde_json::json!({ "hosts": reports, "tally": tally }),
        )?,
        OutputFormat::Table => {
            if args.group {
                render::fleet_grouped(out, &reports)?;
            }
            render::fleet_summary(
                &mut std::io::stderr().lock(),
                &reports,
                tally,
                render::stderr_palette(&ctx.settings),
            )?;
        }
    }
    Ok(tally.exit_code())
}
