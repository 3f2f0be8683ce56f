//! Output: tables for people, JSON for scripts. Every renderer writes to a
//! `Write` it is given, so output is testable as plain strings; diagnostics
//! never go through here (they go to stderr).

use std::io::{self, Write};
use std::time::Duration;

use comfy_table::{Cell, ContentArrangement, Table, presets};
use serde::Serialize;

use crate::app::fleet::Collected;
use crate::doctor::{Protocol, Report, Scope, Status};
use crate::fleet::maintain::{InstanceOutcome, Left};
use crate::fleet::{HostReport, HostStatus, Tally};
use std::collections::BTreeMap;

use crate::model::hint::Hint as _;
use crate::model::host::{Cluster, Host};
use crate::model::lookup::Lookup;
use crate::model::network::SsmAgent;
use crate::model::output::OutputFormat;
use crate::plan::rdp::{Forwarder, RdpError, RdpPlan, Step, Tunnel};
use crate::plan::route::RouteChoice;
use crate::plan::{self, Plan, PlanError, UserSource};

mod choices;
mod colour;
mod settings;
pub use crate::plan::shell_words;
pub use choices::host_choices;
pub use colour::{Palette, Tone};
pub use settings::settings_table;

/// The colours for what goes to stdout (tables, checklists).
pub fn stdout_palette(settings: &crate::settings::Settings) -> Palette {
    Palette::new(settings.color_on(std::io::IsTerminal::is_terminal(&std::io::stdout())))
}

/// The colours for what goes to stderr (messages, summaries).
pub fn stderr_palette(settings: &crate::settings::Settings) -> Palette {
    Palette::new(settings.color_on(std::io::IsTerminal::is_terminal(&std::io::stderr())))
}

/// A host as `ls` lists it and `show` describes it.
#[derive(Debug, Serialize)]
pub struct HostRow<'a> {
    pub instance_id: &'a str,
    pub name: Option<&'a str>,
    pub state: &'a str,
    pub cluster: Option<&'a str>,
    pub container_instance_id: Option<&'a str>,
    pub container_instance_arn: Option<&'a str>,
    pub status: Option<&'a str>,
    pub agent_connected: Option<bool>,
    pub running_tasks: Option<i32>,
    pub os: &'static str,
    pub ami_id: Option<&'a str>,
    pub ami_name: Option<&'a str>,
    pub user: Option<String>,
    pub user_from: Option<UserSource>,
    pub key_name: Option<&'a str>,
    pub public_dns: Option<&'a str>,
    pub public_ip: Option<&'a str>,
    pub private_ip: Option<&'a str>,
    pub availability_zone: Option<&'a str>,
    /// What Session Manager says of the host, where it was asked (`ls`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssm: Option<SsmCell<'a>>,
}

/// A host's Session Manager agent as `ls` shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum SsmCell<'a> {
    /// A managed instance: its agent's ping status and version.
    Managed {
        ping_status: &'a str,
        agent_version: Option<&'a str>,
    },
    /// Not a managed instance (no agent, no role, or no way to SSM).
    NotManaged,
    /// Session Manager could not be asked.
    Unknown,
}

impl<'a> SsmCell<'a> {
    /// The host's cell from what was looked up.
    pub fn of(agents: &'a Lookup<BTreeMap<String, SsmAgent>>, instance_id: &str) -> Self {
        match agents {
            Lookup::Known(agents) => {
                agents
                    .get(instance_id)
                    .map_or(Self::NotManaged, |a| Self::Managed {
                        ping_status: &a.ping_status,
                        agent_version: a.agent_version.as_deref(),
                    })
            }
            Lookup::Unavailable(_) => Self::Unknown,
        }
    }

    fn text(&self) -> String {
        match self {
            Self::Managed {
                ping_status,
                agent_version: Some(version),
            } => format!("{ping_status} {version}"),
            Self::Managed { ping_status, .. } => (*ping_status).to_owned(),
            Self::NotManaged => "-".to_owned(),
            Self::Unknown => "?".to_owned(),
        }
    }

    fn tone(&self) -> Option<Tone> {
        match self {
            Self::Managed { ping_status, .. } if *ping_status == "Online" => Some(Tone::Good),
            Self::Managed { .. } => Some(Tone::Bad),
            Self::NotManaged | Self::Unknown => None,
        }
    }
}

impl<'a> HostRow<'a> {
    /// `flag` and `config_user` are the user from `--user` and the config
    /// file, as the planner weighs them.
    pub fn new(host: &'a Host, flag: Option<&str>, config_user: Option<&str>) -> Self {
        let ci = host.container_instance.as_ref();
        let user = plan::login_user(host, flag, config_user);
        Self {
            instance_id: &host.ec2.instance_id,
            name: host.name(),
            state: &host.ec2.state,
            cluster: ci.map(|c| c.cluster.as_str()),
            container_instance_id: ci.map(|c| c.id.as_str()),
            container_instance_arn: ci.map(|c| c.arn.as_str()),
            status: ci.map(|c| c.status.as_str()),
            agent_connected: ci.map(|c| c.agent_connected),
            running_tasks: ci.map(|c| c.running_tasks),
            os: host.os.label(),
            ami_id: host.ec2.image_id.as_deref(),
            ami_name: host.image.as_ref().and_then(|i| i.name.as_deref()),
            user_from: user.as_ref().map(|(_, from)| *from),
            user: user.map(|(u, _)| u),
            key_name: host.ec2.key_name.as_deref(),
            public_dns: host.ec2.public_dns.as_deref(),
            public_ip: host.ec2.public_ip.as_deref(),
            private_ip: host.ec2.private_ip.as_deref(),
            availability_zone: host.ec2.availability_zone.as_deref(),
            ssm: None,
        }
    }
}

fn table(header: &[&str], palette: Palette) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().copied());
    // The palette decides, not comfy-table's own look at the terminal.
    if palette.is_on() {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    table
}

/// ECS's container-instance and cluster states.
fn ecs_status_tone(status: &str) -> Option<Tone> {
    match status {
        "ACTIVE" => Some(Tone::Good),
        "DRAINING" | "REGISTERING" | "PROVISIONING" => Some(Tone::Caution),
        "-" | "" => None,
        _ => Some(Tone::Bad),
    }
}

fn doctor_tone(status: Status) -> Option<Tone> {
    match status {
        Status::Pass => Some(Tone::Good),
        Status::Warn | Status::Unknown => Some(Tone::Caution),
        Status::Fail => Some(Tone::Bad),
        Status::Skipped => None,
    }
}

fn fleet_tone(status: &HostStatus) -> Tone {
    match status {
        HostStatus::Ok => Tone::Good,
        HostStatus::TimedOut { .. } => Tone::Caution,
        HostStatus::Failed { .. } | HostStatus::Unreachable { .. } => Tone::Bad,
    }
}

fn or_dash(value: Option<&str>) -> String {
    value.filter(|v| !v.is_empty()).unwrap_or("-").to_owned()
}

/// kubectl-style: no borders, two spaces between columns, none before.
fn write_table(out: &mut dyn Write, mut table: Table) -> io::Result<()> {
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    for line in table.lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// A dry run's command line: shell words, or `{"argv": […]}`.
pub fn argv(out: &mut dyn Write, format: OutputFormat, argv: &[String]) -> io::Result<()> {
    match format {
        OutputFormat::Json => json(out, &serde_json::json!({ "argv": argv })),
        OutputFormat::Table => writeln!(out, "{}", shell_words(argv)),
    }
}

/// `--dry-run`'s line on the route when `auto` took Session Manager (the
/// one route a reader of the command line would not guess): why.
pub fn auto_route_note(out: &mut dyn Write, choice: &RouteChoice) -> io::Result<()> {
    if choice.requested != crate::plan::Via::Auto || choice.route != crate::model::route::Route::Ssm
    {
        return Ok(());
    }
    match choice.considered.iter().find(|c| c.route == choice.route) {
        Some(taken) => writeln!(out, "# route ssm (auto): {}", taken.reason),
        None => Ok(()),
    }
}

pub fn json(out: &mut dyn Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}

pub fn clusters_table(
    out: &mut dyn Write,
    clusters: &[Cluster],
    palette: Palette,
) -> io::Result<()> {
    let mut t = table(
        &[
            "CLUSTER",
            "STATUS",
            "INSTANCES",
            "RUNNING",
            "PENDING",
            "SERVICES",
        ],
        palette,
    );
    for c in clusters {
        t.add_row(vec![
            Cell::new(&c.name),
            palette.cell(ecs_status_tone(&c.status), &c.status),
            Cell::new(c.container_instances),
            Cell::new(c.running_tasks),
            Cell::new(c.pending_tasks),
            Cell::new(c.active_services),
        ]);
    }
    write_table(out, t)
}

pub fn hosts_table(out: &mut dyn Write, rows: &[HostRow<'_>], palette: Palette) -> io::Result<()> {
    let with_ssm = rows.iter().any(|r| r.ssm.is_some());
    let mut header = vec!["INSTANCE", "NAME", "CONTAINER-INSTANCE", "STATUS", "AGENT"];
    if with_ssm {
        header.push("SSM");
    }
    header.extend(["TASKS", "OS", "USER", "KEY", "PUBLIC", "PRIVATE", "AZ"]);
    let mut t = table(&header, palette);
    for r in rows {
        let status = or_dash(r.status);
        let agent = match r.agent_connected {
            None => palette.cell(None, "-"),
            Some(true) => palette.cell(Some(Tone::Good), "connected"),
            Some(false) => palette.cell(Some(Tone::Bad), "DISCONNECTED"),
        };
        let mut cells = vec![
            Cell::new(r.instance_id),
            Cell::new(or_dash(r.name)),
            Cell::new(or_dash(r.container_instance_id)),
            palette.cell(ecs_status_tone(&status), status),
            agent,
        ];
        if with_ssm {
            cells.push(r.ssm.as_ref().map_or_else(
                || palette.cell(None, "?"),
                |ssm| palette.cell(ssm.tone(), ssm.text()),
            ));
        }
        cells.extend([
            Cell::new(
                r.running_tasks
                    .map_or_else(|| "-".to_owned(), |n| n.to_string()),
            ),
            Cell::new(r.os),
            Cell::new(or_dash(r.user.as_deref())),
            Cell::new(or_dash(r.key_name)),
            Cell::new(or_dash(r.public_dns.or(r.public_ip))),
            Cell::new(or_dash(r.private_ip)),
            Cell::new(or_dash(r.availability_zone)),
        ]);
        t.add_row(cells);
    }
    write_table(out, t)
}

/// `show`: a host's facts and the plan (or why there is none).
#[derive(Debug, Serialize)]
pub struct ShowReport<'a> {
    pub host: HostRow<'a>,
    pub vpc_id: Option<&'a str>,
    pub subnet_id: Option<&'a str>,
    pub security_groups: &'a [String],
    /// The route taken and the routes considered.
    pub route: Option<&'a RouteChoice>,
    pub plan: Option<&'a Plan>,
    /// For a Windows host: the RDP plan instead of an ssh one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rdp: Option<&'a RdpPlan>,
    pub problem: Option<Problem>,
}

#[derive(Debug, Serialize)]
pub struct Problem {
    /// The command that cannot connect: `ssh` or `rdp`.
    pub command: &'static str,
    pub error: String,
    pub hint: String,
}

impl From<&PlanError> for Problem {
    fn from(e: &PlanError) -> Self {
        Self {
            command: "ssh",
            error: e.to_string(),
            hint: e.hint().unwrap_or_default(),
        }
    }
}

impl From<&RdpError> for Problem {
    fn from(e: &RdpError) -> Self {
        Self {
            command: "rdp",
            error: e.to_string(),
            hint: e.hint().unwrap_or_default(),
        }
    }
}

pub fn show_text(out: &mut dyn Write, report: &ShowReport<'_>) -> io::Result<()> {
    let h = &report.host;
    let mut lines: Vec<(&str, String)> = vec![
        (
            "instance",
            match h.name {
                Some(name) => format!("{} ({name})", h.instance_id),
                None => h.instance_id.to_owned(),
            },
        ),
        ("state", h.state.to_owned()),
    ];
    if let (Some(cluster), Some(id)) = (h.cluster, h.container_instance_id) {
        lines.push((
            "container",
            format!(
                "{cluster}/{id} {}, agent {}, {} running task(s)",
                h.status.unwrap_or("-"),
                if h.agent_connected == Some(true) {
                    "connected"
                } else {
                    "DISCONNECTED"
                },
                h.running_tasks.unwrap_or(0)
            ),
        ));
    }
    lines.push((
        "os",
        format!(
            "{} ({} {})",
            h.os,
            h.ami_id.unwrap_or("-"),
            h.ami_name.unwrap_or("AMI not describable")
        ),
    ));
    lines.push(("user", or_dash(h.user.as_deref())));
    lines.push(("key pair", or_dash(h.key_name)));
    lines.push(("public", or_dash(h.public_dns.or(h.public_ip))));
    lines.push(("private", or_dash(h.private_ip)));
    lines.push(("az", or_dash(h.availability_zone)));
    lines.push((
        "network",
        format!("{} {}", or_dash(report.vpc_id), or_dash(report.subnet_id)),
    ));
    lines.push(("groups", report.security_groups.join(" ")));
    if let Some(route) = report.route {
        for note in route.notes() {
            lines.push(("route", note.trim_start_matches("route ").to_owned()));
        }
    }
    if let Some(plan) = report.plan {
        lines.push((
            "key file",
            match (&plan.key, &plan.instance_connect) {
                (Some(k), _) => k.path.display().to_string(),
                (None, Some(push)) => format!(
                    "{} (a one-time {} key, pushed with EC2 Instance Connect for {}: {})",
                    crate::plan::ONE_TIME_KEY,
                    push.key_type.label(),
                    push.os_user,
                    push.reason
                ),
                (None, None) => "- (left to ssh-agent)".to_owned(),
            },
        ));
        lines.push(("command", shell_words(&plan.argv)));
        for note in &plan.notes {
            lines.push(("note", note.clone()));
        }
    }
    if let Some(plan) = report.rdp {
        lines.push(("key file", plan.key.path.display().to_string()));
        if let Some(file) = &plan.rdp_file {
            lines.push(("rdp file", file.path.display().to_string()));
        }
        for step in &plan.steps {
            lines.push(("command", step_line(step)));
        }
        for note in &plan.notes {
            lines.push(("note", note.clone()));
        }
    }
    let cannot;
    if let Some(problem) = &report.problem {
        cannot = format!("cannot {}", problem.command);
        lines.push((&cannot, problem.error.clone()));
        lines.push(("fix", problem.hint.clone()));
    }
    for (label, value) in lines {
        writeln!(out, "{label:<10}  {value}")?;
    }
    Ok(())
}

/// A step of an RDP plan as one line: the command, then what its stdin
/// gets, the password shown only as `<password>`.
fn step_line(step: &Step) -> String {
    let command = shell_words(&step.argv);
    match step.stdin {
        Some(input) => format!("{command}  # stdin: {:?}", input.redacted()),
        None => command,
    }
}

/// `rdp --dry-run`: the `.rdp` file to write, then each command.
pub fn rdp_steps(out: &mut dyn Write, plan: &RdpPlan) -> io::Result<()> {
    if let Some(tunnel) = &plan.tunnel {
        match &tunnel.forwarder {
            Forwarder::Ssh { argv } => writeln!(
                out,
                "{}  # tunnel, held open while the client runs",
                shell_words(argv)
            )?,
            Forwarder::Eice { endpoint_id, .. } => writeln!(
                out,
                "# berth forwards {}:{} to {}:{} through EC2 Instance Connect Endpoint {endpoint_id}, \
                 one tunnel per connection, while the client runs",
                Tunnel::LOCAL_ADDRESS,
                tunnel.local_port,
                plan.address,
                plan.port
            )?,
            Forwarder::Ssm => writeln!(
                out,
                "# berth forwards {}:{} to port {} of {} over one Session Manager port session \
                 (AWS-StartPortForwardingSession) while the client runs",
                Tunnel::LOCAL_ADDRESS,
                tunnel.local_port,
                plan.port,
                plan.instance_id
            )?,
        }
    }
    if let Some(file) = &plan.rdp_file {
        writeln!(out, "# write {}:", file.path.display())?;
        for line in file.text.lines() {
            writeln!(out, "#   {line}")?;
        }
    }
    for step in &plan.steps {
        writeln!(out, "{}", step_line(step))?;
    }
    Ok(())
}

/// An argv as a line a POSIX shell would split back into the same words.
/// The doctor checklist: a header naming the host, one line per check
/// (status, check, route, evidence) with fix lines under failures and
/// warnings, then which routes work.
pub fn doctor_text(
    out: &mut dyn Write,
    host: &Host,
    report: &Report,
    palette: Palette,
) -> io::Result<()> {
    let name = host.name().map_or_else(String::new, |n| format!(" ({n})"));
    let from = report
        .from
        .map_or_else(|| "an unknown address".to_owned(), |f| f.to_string());
    writeln!(
        out,
        "{}{name}: {} to port {} from {from}",
        report.instance_id,
        match report.protocol {
            Protocol::Ssh => "ssh",
            Protocol::Rdp => "rdp",
        },
        report.port
    )?;
    for line in doctor_lines(report, palette) {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// `berth doctor` on a task: ECS Exec's checklist, and whether it works.
pub fn doctor_exec_text(
    out: &mut dyn Write,
    report: &crate::doctor::ecs_exec::ExecReport,
    palette: Palette,
) -> io::Result<()> {
    writeln!(
        out,
        "{}: ECS Exec into task {}",
        report.target, report.task_arn
    )?;
    for f in &report.findings {
        let label = palette.tone(doctor_tone(f.status), &format!("{:<4}", f.status.label()));
        writeln!(out, "  {label}  {:<26} {}", f.check, f.evidence)?;
        for (i, fix) in f.fix.iter().enumerate() {
            let lead = if i == 0 { "fix:" } else { "    " };
            writeln!(out, "        {lead} {fix}")?;
        }
    }
    let first = |status: Status| report.findings.iter().find(|f| f.status == status);
    let summary = match (report.works, first(Status::Fail), first(Status::Unknown)) {
        (false, Some(f), _) => format!("ecs-exec: blocked by {}", f.check),
        (_, _, Some(f)) => format!("ecs-exec: works, unverified by {}", f.check),
        _ => "ecs-exec: works".to_owned(),
    };
    writeln!(out, "{summary}")
}

/// The checklist lines without the header; also printed after a failed
/// connection (problems only).
pub fn doctor_lines(report: &Report, palette: Palette) -> Vec<String> {
    let mut lines = Vec::new();
    for f in &report.findings {
        let scope = match f.scope {
            Scope::Route(route) => format!("[{}] ", route.name()),
            Scope::All | Scope::KeyRoutes => String::new(),
        };
        let label = palette.tone(doctor_tone(f.status), &format!("{:<4}", f.status.label()));
        lines.push(format!("  {label}  {:<26} {scope}{}", f.check, f.evidence));
        for (i, fix) in f.fix.iter().enumerate() {
            let lead = if i == 0 { "fix:" } else { "    " };
            lines.push(format!("        {lead} {fix}"));
        }
    }
    lines.push(route_summary(report));
    if let Some(route) = report.auto_takes {
        lines.push(format!(
            "auto: berth ssh takes the {} route (the first of {} it can use)",
            route.name(),
            crate::plan::route::AUTO_ORDER
                .iter()
                .map(|r| r.name())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    lines
}

/// `routes: private works; public blocked by internet-gateway;
/// instance-connect-endpoint unverified by security-group`: a check that
/// failed blocks, one berth could not decide only leaves the route
/// unverified.
pub fn route_summary(report: &Report) -> String {
    let parts: Vec<String> = report
        .routes
        .iter()
        .map(|r| match (r.works, r.blocked_by, r.unverified_by) {
            (true, _, _) => format!("{} works", r.route.doctor_name()),
            (false, Some(check), _) => format!("{} blocked by {check}", r.route.doctor_name()),
            (false, None, Some(check)) => {
                format!("{} unverified by {check}", r.route.doctor_name())
            }
            (false, None, None) => format!("{} unavailable", r.route.doctor_name()),
        })
        .collect();
    format!("routes: {}", parts.join("; "))
}

/// `run --group`: each host's output together, stdout then stderr, under
/// a header naming the host and how it ended.
pub fn fleet_grouped(out: &mut dyn Write, hosts: &[HostReport]) -> io::Result<()> {
    for host in hosts {
        writeln!(
            out,
            "== {} ({}) {}",
            host.label,
            host.instance_id,
            host.status.word()
        )?;
        for text in [&host.stdout, &host.stderr] {
            out.write_all(text.as_bytes())?;
            if !text.is_empty() && !text.ends_with('\n') {
                writeln!(out)?;
            }
        }
    }
    Ok(())
}

/// `run`'s summary: one row per host, then the counts.
pub fn fleet_summary(
    out: &mut dyn Write,
    hosts: &[HostReport],
    tally: Tally,
    palette: Palette,
) -> io::Result<()> {
    let mut t = table(
        &["HOST", "INSTANCE", "RESULT", "EXIT", "TIME", "DETAIL"],
        palette,
    );
    for host in hosts {
        let (exit, detail) = match &host.status {
            HostStatus::Ok => ("0".to_owned(), String::new()),
            HostStatus::Failed { exit_code } => (
                exit_code.to_string(),
                host.stderr
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or_default()
                    .to_owned(),
            ),
            HostStatus::Unreachable { reason } => ("-".to_owned(), reason.clone()),
            HostStatus::TimedOut { after_ms } => {
                ("-".to_owned(), format!("stopped after {after_ms} ms"))
            }
        };
        t.add_row(vec![
            Cell::new(&host.label),
            Cell::new(&host.instance_id),
            palette.cell(Some(fleet_tone(&host.status)), host.status.word()),
            Cell::new(exit),
            Cell::new(format!(
                "{:.1}s",
                Duration::from_millis(host.duration_ms).as_secs_f64()
            )),
            Cell::new(detail),
        ]);
    }
    write_table(out, t)?;
    writeln!(
        out,
        "{} host(s): {} ok, {} failed, {} unreachable, {} timed out",
        hosts.len(),
        tally.ok,
        tally.failed,
        tally.unreachable,
        tally.timed_out
    )
}

/// `maintain`'s summary: each container instance, its batch, the
/// command's result and the state it was left in.
pub fn maintain_summary(
    out: &mut dyn Write,
    outcomes: &[InstanceOutcome],
    palette: Palette,
) -> io::Result<()> {
    let mut t = table(
        &["HOST", "INSTANCE", "BATCH", "COMMAND", "LEFT", "NOTE"],
        palette,
    );
    for o in outcomes {
        let command = match &o.command {
            Some(status) => palette.cell(Some(fleet_tone(status)), status.word()),
            None => palette.cell(None, "-"),
        };
        let left = match o.left {
            Left::Active => palette.cell(Some(Tone::Good), "ACTIVE"),
            Left::Draining => palette.cell(Some(Tone::Caution), "DRAINING"),
            Left::Untouched => palette.cell(None, "untouched"),
        };
        t.add_row(vec![
            Cell::new(&o.label),
            Cell::new(&o.instance_id),
            Cell::new(o.batch),
            command,
            left,
            Cell::new(o.note.as_deref().unwrap_or_default()),
        ]);
    }
    write_table(out, t)
}

/// `logs`' lines: each host's archive and how many files it holds and
/// lacks, or why there is none; then each file missing.
pub fn logs_lines(out: &mut dyn Write, collected: &[Collected]) -> io::Result<()> {
    for c in collected {
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
    Ok(())
}

/// `tunnel --via ssm --dry-run`: each forward's listener and session.
pub fn ssm_tunnel_plan(
    out: &mut dyn Write,
    format: OutputFormat,
    forwards: &[crate::app::ports::PortForward],
) -> io::Result<()> {
    match format {
        OutputFormat::Json => json(
            out,
            &forwards
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "listen": f.listen,
                        "destination": f.destination(),
                        "document": f.document(),
                        "parameters": f.parameters(f.local_port()),
                    })
                })
                .collect::<Vec<_>>(),
        ),
        OutputFormat::Table => {
            for f in forwards {
                let parameters: Vec<String> = f
                    .parameters(f.local_port())
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.join(",")))
                    .collect();
                writeln!(
                    out,
                    "# listen on {}; StartSession {} {}",
                    f.listen,
                    f.document(),
                    parameters.join(" ")
                )?;
            }
            Ok(())
        }
    }
}

/// `tunnel --via ssm --output json`: the forwards listening, once they
/// are (the text form says so on stderr).
pub fn ssm_listening(
    out: &mut dyn Write,
    format: OutputFormat,
    listening: &[crate::app::ports::Listening],
) -> io::Result<()> {
    if format == OutputFormat::Json {
        serde_json::to_writer(&mut *out, &serde_json::json!({ "listening": listening }))?;
        writeln!(out)?;
        out.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::host::example_host;

    fn host() -> Host {
        let mut host = example_host();
        host.ec2.public_dns = None;
        host.ec2.public_ip = None;
        if let Some(ci) = host.container_instance.as_mut() {
            ci.status = "DRAINING".into();
            ci.agent_connected = false;
        }
        host
    }

    #[test]
    fn the_route_summary_tells_blocked_from_unverified() {
        let route = |route, works, blocked_by, unverified_by| crate::doctor::RouteResult {
            route,
            works,
            blocked_by,
            unverified_by,
            unverified: unverified_by.is_some(),
        };
        let report = |routes| Report {
            target: "prod/web-1".into(),
            instance_id: "i-0123456789abcdef0".into(),
            protocol: crate::doctor::Protocol::Ssh,
            port: 22,
            from: None,
            findings: Vec::new(),
            routes,
            auto_takes: None,
        };
        let eice = crate::doctor::Route::Eice;
        let table = [
            (
                route(eice, true, None, None),
                "routes: instance-connect-endpoint works",
            ),
            (
                route(eice, false, Some("security-group"), None),
                "routes: instance-connect-endpoint blocked by security-group",
            ),
            (
                route(eice, false, None, Some("security-group")),
                "routes: instance-connect-endpoint unverified by security-group",
            ),
            (
                route(eice, false, None, None),
                "routes: instance-connect-endpoint unavailable",
            ),
        ];
        for (result, expected) in table {
            assert_eq!(route_summary(&report(vec![result])), expected);
        }
        assert_eq!(
            route_summary(&report(vec![
                route(
                    crate::doctor::Route::Public,
                    false,
                    Some("public-address"),
                    None
                ),
                route(eice, true, None, None),
            ])),
            "routes: public blocked by public-address; instance-connect-endpoint works"
        );
    }

    #[test]
    fn ls_shows_the_session_manager_agent_where_it_was_asked() {
        let h = host();
        let agents = Lookup::Known(BTreeMap::from([(
            h.ec2.instance_id.clone(),
            SsmAgent {
                ping_status: "Online".into(),
                agent_version: Some("3.3.987.0".into()),
                last_ping: None,
            },
        )]));
        let unknown = Lookup::Unavailable("AccessDeniedException".into());
        let none = Lookup::Known(BTreeMap::new());
        let cases = [
            (
                &agents,
                "Online 3.3.987.0",
                serde_json::json!({"state": "managed", "ping_status": "Online", "agent_version": "3.3.987.0"}),
            ),
            (&none, "-", serde_json::json!({"state": "not-managed"})),
            (&unknown, "?", serde_json::json!({"state": "unknown"})),
        ];
        for (lookup, cell, json) in cases {
            let row = HostRow {
                ssm: Some(SsmCell::of(lookup, &h.ec2.instance_id)),
                ..HostRow::new(&h, None, None)
            };
            let mut out = Vec::new();
            hosts_table(&mut out, std::slice::from_ref(&row), Palette::new(false)).expect("write");
            let text = String::from_utf8(out).expect("utf8");
            let col = text.find("SSM").expect("SSM column");
            let second = text.lines().nth(1).expect("row");
            assert!(second[col..].starts_with(cell), "{text}");
            assert_eq!(serde_json::to_value(&row).expect("json")["ssm"], json);
        }
        // Where nobody asked (`show`, the picker), no column and no field.
        let plain = HostRow::new(&h, None, None);
        assert!(
            serde_json::to_value(&plain)
                .expect("json")
                .get("ssm")
                .is_none()
        );
    }

    #[test]
    fn hosts_table_is_aligned_text() {
        let h = host();
        let mut out = Vec::new();
        hosts_table(
            &mut out,
            &[HostRow::new(&h, None, None)],
            Palette::new(false),
        )
        .expect("write");
        let text = String::from_utf8(out).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        let header: Vec<&str> = lines[0].split_whitespace().collect();
        let row: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(header.len(), row.len(), "{text}");
        assert_eq!(
            row,
            vec![
                "i-0123456789abcdef0",
                "web-1",
                "abc",
                "DRAINING",
                "DISCONNECTED",
                "2",
                "Ubuntu",
                "ubuntu",
                "prod",
                "-",
                "10.0.1.7",
                "us-east-1a"
            ]
        );
        // The columns line up: each header starts where its values start.
        let col = lines[0].find("PRIVATE").expect("column");
        assert_eq!(&lines[1][col..col + 8], "10.0.1.7");
    }

    #[test]
    fn coloured_tables_paint_states_and_keep_their_columns() {
        let h = host();
        let row = [HostRow::new(&h, None, None)];
        let (mut plain, mut painted) = (Vec::new(), Vec::new());
        hosts_table(&mut plain, &row, Palette::new(false)).expect("write");
        hosts_table(&mut painted, &row, Palette::new(true)).expect("write");
        let plain = String::from_utf8(plain).expect("utf8");
        let painted = String::from_utf8(painted).expect("utf8");
        assert!(!plain.contains('\x1b'), "{plain:?}");
        // DRAINING in yellow, DISCONNECTED in red, nothing else painted.
        assert!(painted.contains("\x1b[38;5;11mDRAINING"), "{painted:?}");
        assert!(painted.contains("\x1b[38;5;9mDISCONNECTED"), "{painted:?}");
        assert_eq!(painted.matches("\x1b[39m").count(), 2, "{painted:?}");
        // Without the colour codes it is the plain table, column for column.
        let stripped = strip_sgr(&painted);
        assert_eq!(stripped, plain);
    }

    #[test]
    fn state_words_have_their_tones() {
        assert_eq!(doctor_tone(Status::Fail), Some(Tone::Bad));
        assert_eq!(doctor_tone(Status::Unknown), Some(Tone::Caution));
        assert_eq!(doctor_tone(Status::Skipped), None);
        assert_eq!(ecs_status_tone("ACTIVE"), Some(Tone::Good));
        assert_eq!(ecs_status_tone("DRAINING"), Some(Tone::Caution));
        assert_eq!(ecs_status_tone("INACTIVE"), Some(Tone::Bad));
        assert_eq!(ecs_status_tone("-"), None);
    }

    fn strip_sgr(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn host_json_has_user_and_addresses() {
        let h = host();
        let mut out = Vec::new();
        json(&mut out, &[HostRow::new(&h, None, Some("ops"))]).expect("write");
        let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(v[0]["user"], "ops");
        assert_eq!(v[0]["user_from"], "config");
        assert_eq!(v[0]["private_ip"], "10.0.1.7");
        assert_eq!(v[0]["public_ip"], serde_json::Value::Null);
        assert_eq!(v[0]["status"], "DRAINING");
    }

    #[test]
    fn shell_words_quote_what_needs_it() {
        let argv: Vec<String> = ["ssh", "--", "ec2-user@h", "echo $HOME; exit 7"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(shell_words(&argv), "ssh -- ec2-user@h 'echo $HOME; exit 7'");
    }
}
