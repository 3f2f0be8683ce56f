//! `berth logs TARGET`: the ECS diagnostic logs of each host, one gzipped
//! tar per host, and what each archive holds or lacks.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::app::Context;
use crate::app::request::Connect;
use crate::error::Error;
use crate::fleet::logs::{self, Manifest};
use crate::fleet::{HostReport, HostStatus};
use crate::model::os::OsFamily;
use crate::transport::fleet::Live;

use super::run::run_collecting;
use super::{FleetRun, label};

/// `berth logs`: whose logs, from when, and where the archives go.
#[derive(Debug, Clone)]
pub struct LogsRequest {
    pub connect: Connect,
    /// Only what was logged in this last stretch.
    pub since: Option<Duration>,
    pub output_dir: PathBuf,
    /// At most this many hosts at once.
    pub jobs: u16,
    /// How long each host may take.
    pub timeout: Duration,
}

/// One host's collection.
#[derive(Debug, Serialize)]
pub struct Collected {
    pub instance_id: String,
    pub label: String,
    /// The archive written, if any.
    pub archive: Option<PathBuf>,
    #[serde(flatten)]
    pub manifest: Manifest,
    /// Why there is no archive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Collects the logs of every host the target matches into
/// `output_dir`, one archive per host; what each archive holds or why
/// there is none, in the hosts' order.
pub async fn collect(ctx: &Context, request: &LogsRequest) -> Result<Vec<Collected>, Error> {
    let connect = &request.connect;
    let (hosts, aws) = crate::app::resolve_all(ctx, connect).await?;
    std::fs::create_dir_all(&request.output_dir).map_err(|e| {
        Error::usage(
            format!("cannot create {}: {e}", request.output_dir.display()),
            "give --output-dir a writable directory".to_owned(),
        )
    })?;
    let spec = FleetRun {
        jobs: request.jobs,
        timeout: Some(request.timeout),
        port: None,
        options: connect.ssh_options.clone(),
        command: vec![logs::remote_command(request.since)],
    };
    let done = run_collecting(ctx, &aws, connect, &hosts, &spec, Live::Quiet).await?;
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
                        let path = request
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
                            humantime::format_duration(request.timeout)
                        ));
                    }
                }
            }
        }
        results.push(collected);
    }
    Ok(results)
}
