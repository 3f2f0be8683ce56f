//! The picker's rows: the columns of `berth ls` that tell hosts apart,
//! aligned, one line per host, and the titles above them.

use super::HostRow;

/// The titles and one line per host, in the hosts' order.
pub fn host_choices(rows: &[HostRow<'_>]) -> (String, Vec<String>) {
    let header = [
        "INSTANCE", "NAME", "STATUS", "TASKS", "OS", "USER", "PUBLIC", "PRIVATE", "AZ",
    ];
    let dash = |v: Option<&str>| v.filter(|v| !v.is_empty()).unwrap_or("-").to_owned();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.instance_id.to_owned(),
                dash(r.name),
                dash(r.status.or(Some(r.state))),
                r.running_tasks
                    .map_or_else(|| "-".to_owned(), |t| t.to_string()),
                r.os.to_owned(),
                dash(r.user.as_deref()),
                dash(r.public_ip.or(r.public_dns)),
                dash(r.private_ip),
                dash(r.availability_zone),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let mut line = String::new();
        for (cell, width) in cells.iter().zip(&widths) {
            line.push_str(cell);
            line.extend(std::iter::repeat_n(' ', width + 2 - cell.chars().count()));
        }
        line.trim_end().to_owned()
    };
    let lines = cells
        .iter()
        .map(|row| line(&row.iter().map(String::as_str).collect::<Vec<_>>()))
        .collect();
    (line(&header), lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::host::example_host;

    #[test]
    fn aligned_like_ls() {
        let host = example_host();
        let mut other = example_host();
        other.ec2.instance_id = "i-0fedcba9876543210".into();
        other.ec2.tags.insert("Name".into(), "db-primary".into());
        other.ec2.public_ip = None;
        other.ec2.public_dns = None;
        let rows = [
            HostRow::new(&host, None, None),
            HostRow::new(&other, None, Some("ops")),
        ];
        let (header, lines) = host_choices(&rows);
        assert_eq!(
            header,
            "INSTANCE             NAME        STATUS  TASKS  OS      USER    PUBLIC   PRIVATE   AZ"
        );
        assert_eq!(
            lines,
            [
                "i-0123456789abcdef0  web-1       ACTIVE  2      Ubuntu  ubuntu  3.4.5.6  10.0.1.7  us-east-1a",
                "i-0fedcba9876543210  db-primary  ACTIVE  2      Ubuntu  ops     -        10.0.1.7  us-east-1a",
            ]
        );
    }
}
