//! `berth logs TARGET`: the ECS diagnostic logs of each host, one gzipped
//! tar per host, and what each archive holds or lacks.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use crate::app::request::Connect;
use crate::cli::{LogsArgs, OutputFormat};
use crate::error::Error;
use crate::fleet::logs::{self, Manifest};
use crate::fleet::{HostReport, HostStatus};
use crate::model::os::OsFamily;
use crate::transport::fleet::Live;

use super::run::{FleetRun, label, run_collecting};
use crate::app::Context;

/// One host's collection.
#[derive(Debug, Serialize)]
struct Collected {
    instance_id: String,
    label: String,
    /// The archive written, if any.
    archive: Option<PathBuf>,
    #[serde(flatten)]
    manifest: Manifest,
    /// Why there is no archive.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub async fn run(ctx: &Context, args: &LogsArgs, out: &mut dyn Write) -> Result<u8, Error> {
    let connect = Connect::from(&args.connect);
    let (hosts, aws) = crate::app::resolve_all(ctx, &connect).await?;
    std::fs::create_dir_all(&args.output_dir).map_err(|e| {
        Error::usage(
            format!("cannot create {}: {e}", args.output_dir.display()),
            "give --output-dir a writable directory".to_owned(),
        )
    })?;
    let spec = FleetRun {
        jobs: args.jobs,
        timeout: Some(args.timeout),
        port: None,
        options: connect.ssh_options.clone(),
        command: vec![logs::remote_command(args.since)],
    };
    let done = run_collecting(ctx, &aws, &connect, &hosts, &spec, Live::Quiet).await?;
    let mut results = Vec::new();
    for (host, finished) in done {
        let name = label(host);
        let mut collected = Collected {
            instance_id: host.instance_id().to_owned(),
            label: name.clone(),
            archive: None,
            manifest: Manifest::default(),
            error: None,
        };
        match finished {
            Err(_) if host.os == OsFamily::Windows => {
                collected.error = Some(logs::windows_reason(host.instance_id()));
            }
            Err(reason) => collected.error = Some(reason),
            Ok(finished) => {
                let report = HostReport::new(host.instance_id(), &name, &finished, spec.timeout);
                collected.manifest = logs::parse_manifest(&report.stderr);
                match &report.status {
                    HostStatus::Ok if !finished.stdout.is_empty() => {
                        let path = args
                            .output_dir
                            .join(logs::archive_name(host.name(), host.instance_id()));
                        std::fs::write(&path, &finished.stdout).map_err(|e| {
                            Error::usage(
                                format!("cannot write {}: {e}", path.display()),
                                "give --output-dir a writable directory".to_owned(),
                            )
                        })?;
                        collected.archive = Some(path);
                    }
                    HostStatus::Ok => collected.error = Some("the host sent no archive".to_owned()),
                    HostStatus::Failed { exit_code } => {
                        collected.error = Some(format!("the collection failed (exit {exit_code})"));
                    }
                    HostStatus::Unreachable { reason } => collected.error = Some(reason.clone()),
                    HostStatus::TimedOut { .. } => {
                        collected.error = Some(format!(
                            "still collecting after {}",
                            humantime::format_duration(args.timeout)
                        ));
                    }
                }
            }
        }
        results.push(collected);
    }
    match ctx.settings.output {
        OutputFormat::Json => {
            crate::ui::render::json(out, &serde_json::json!({ "hosts": results }))?;
        }
        OutputFormat::Table => {
            for c in &results {
                match (&c.archive, &c.error) {
                    (Some(path), _) => writeln!(
                        out,
                        "{}: {} ({} collected, {} missing)",
                        c.label,
                        path.display(),
                        c.manifest.collected.len(),
                        c.manifest.missing.len()
                    )?,
                    (None, error) => writeln!(
                        out,
                        "{}: no archive: {}",
                        c.label,
                        error.as_deref().unwrap_or("unknown")
                    )?,
                }
                for missing in &c.manifest.missing {
                    writeln!(out, "    missing {missing}")?;
                }
            }
        }
    }
    Ok(u8::from(results.iter().any(|c| c.archive.is_none())))
}
