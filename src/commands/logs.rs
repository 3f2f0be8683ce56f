//! `berth logs TARGET`: the ECS diagnostic logs of each host, one gzipped
//! tar per host (collected by `app::fleet::logs`), and what each archive
//! holds or lacks.

use std::io::Write;

use crate::app::Context;
use crate::app::fleet::LogsRequest;
use crate::app::fleet::logs::collect;
use crate::app::request::Connect;
use crate::cli::{LogsArgs, OutputFormat};
use crate::error::Error;
use crate::ui::render;

pub async fn run(ctx: &Context, args: &LogsArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let request = LogsRequest {
        connect: Connect::from(&args.connect),
        since: args.since,
        output_dir: args.output_dir.clone(),
        jobs: args.jobs,
        timeout: args.timeout,
    };
    let results = collect(ctx, &request).await?;
    match ctx.settings.output {
        OutputFormat::Json => render::json(out, &serde_json::json!({ "hosts": results }))?,
        OutputFormat::Table => render::logs_lines(out, &results)?,
    }
    Ok(u8::from(results.iter().any(|c| c.archive.is_none())))
}
