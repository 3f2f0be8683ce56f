//! Which operating system an AMI runs, and so how one logs in to it.
//!
//! The default user names follow AWS's "default user name for your AMI"
//! page. Classification looks only at the AMI's name, description and
//! platform, so it is pure and table-tested.

use serde::{Deserialize, Serialize};

use super::host::Image;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OsFamily {
    AmazonLinux,
    Rhel,
    Suse,
    Ubuntu,
    Debian,
    CentOs,
    Fedora,
    FedoraCoreOs,
    CoreOs,
    Flatcar,
    Rocky,
    Bitnami,
    OracleLinux,
    FreeBsd,
    Bottlerocket,
    Windows,
    /// The AMI is gone or says nothing we recognise.
    Unknown,
}

/// How one logs in to a family, by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    Ssh(&'static str),
    /// Windows: RDP as `Administrator`.
    Rdp(&'static str),
    /// No SSH daemon on the host (Bottlerocket).
    NoShell,
}

impl OsFamily {
    pub fn login(self) -> Login {
        match self {
            Self::AmazonLinux
            | Self::Rhel
            | Self::Suse
            | Self::OracleLinux
            | Self::FreeBsd
            | Self::Unknown => Login::Ssh("ec2-user"),
            Self::Ubuntu => Login::Ssh("ubuntu"),
            Self::Debian => Login::Ssh("admin"),
            Self::CentOs => Login::Ssh("centos"),
            Self::Fedora => Login::Ssh("fedora"),
            Self::FedoraCoreOs | Self::CoreOs | Self::Flatcar => Login::Ssh("core"),
            Self::Rocky => Login::Ssh("rocky"),
            Self::Bitnami => Login::Ssh("bitnami"),
            Self::Bottlerocket => Login::NoShell,
            Self::Windows => Login::Rdp("Administrator"),
        }
    }

    /// The user berth logs in as when nothing overrides it.
    pub fn default_user(self) -> Option<&'static str> {
        match self.login() {
            Login::Ssh(user) | Login::Rdp(user) => Some(user),
            Login::NoShell => None,
        }
    }

    /// Whether the family's AMIs come with the ec2-instance-connect package,
    /// whose AuthorizedKeysCommand lets sshd take keys pushed with EC2
    /// Instance Connect: Amazon Linux 2 and 2023, Ubuntu 20.04 and later
    /// (the AWS docs' list). Other Linux hosts can install it.
    pub fn ships_instance_connect(self) -> bool {
        matches!(self, Self::AmazonLinux | Self::Ubuntu)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::AmazonLinux => "Amazon Linux",
            Self::Rhel => "RHEL",
            Self::Suse => "SUSE",
            Self::Ubuntu => "Ubuntu",
            Self::Debian => "Debian",
            Self::CentOs => "CentOS",
            Self::Fedora => "Fedora",
            Self::FedoraCoreOs => "Fedora CoreOS",
            Self::CoreOs => "CoreOS",
            Self::Flatcar => "Flatcar",
            Self::Rocky => "Rocky Linux",
            Self::Bitnami => "Bitnami",
            Self::OracleLinux => "Oracle Linux",
            Self::FreeBsd => "FreeBSD",
            Self::Bottlerocket => "Bottlerocket",
            Self::Windows => "Windows",
            Self::Unknown => "unknown",
        }
    }
}

/// Classifies a host from its AMI (if still describable) and EC2 platform.
pub fn classify(image: Option<&Image>, ec2_platform: Option<&str>) -> OsFamily {
    let windows = |p: Option<&str>| p.is_some_and(|p| p.eq_ignore_ascii_case("windows"));
    if windows(ec2_platform) || windows(image.and_then(|i| i.platform.as_deref())) {
        return OsFamily::Windows;
    }
    let Some(image) = image else {
        return OsFamily::Unknown;
    };
    let text = format!(
        "{} {}",
        image.name.as_deref().unwrap_or_default(),
        image.description.as_deref().unwrap_or_default()
    )
    .to_ascii_lowercase();
    // Order matters: more specific names first ("fedora-coreos" before
    // "fedora", "bottlerocket-aws-ecs" before anything ECS-ish).
    let rules: &[(&[&str], OsFamily)] = &[
        (&["bottlerocket"], OsFamily::Bottlerocket),
        (&["windows"], OsFamily::Windows),
        (&["flatcar"], OsFamily::Flatcar),
        (&["fedora-coreos", "fedora coreos"], OsFamily::FedoraCoreOs),
        (&["coreos"], OsFamily::CoreOs),
        (&["bitnami"], OsFamily::Bitnami),
        (&["ubuntu", "canonical"], OsFamily::Ubuntu),
        (&["debian"], OsFamily::Debian),
        (&["centos"], OsFamily::CentOs),
        (&["rocky"], OsFamily::Rocky),
        (&["fedora"], OsFamily::Fedora),
        (&["rhel", "red hat"], OsFamily::Rhel),
        (&["suse", "sles"], OsFamily::Suse),
        (
            &["oracle linux", "ol8", "ol9", "oraclelinux"],
            OsFamily::OracleLinux,
        ),
        (&["freebsd"], OsFamily::FreeBsd),
        (
            &["amzn", "amazon linux", "al2023", "ecs-optimized", "ecs hvm"],
            OsFamily::AmazonLinux,
        ),
    ];
    rules
        .iter()
        .find(|(needles, _)| needles.iter().any(|n| text.contains(n)))
        .map_or(OsFamily::Unknown, |(_, family)| *family)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(name: &str, description: &str) -> Image {
        Image {
            id: "ami-1".into(),
            name: Some(name.into()),
            description: Some(description.into()),
            owner_id: None,
            platform: None,
        }
    }

    #[test]
    #[allow(clippy::too_many_lines)] // a table of cases reads best in one piece
    fn classifies_real_ami_names() {
        let table = [
            (
                "al2023-ami-ecs-hvm-2023.0.20251108-kernel-6.1-x86_64",
                "Amazon Linux AMI 2023.0.20251108 x86_64 ECS HVM EBS",
                OsFamily::AmazonLinux,
                Some("ec2-user"),
            ),
            (
                "amzn2-ami-ecs-hvm-2.0.20251108-x86_64-ebs",
                "Amazon Linux AMI 2.0.20251108 x86_64 ECS HVM GP2",
                OsFamily::AmazonLinux,
                Some("ec2-user"),
            ),
            (
                "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20251101",
                "Canonical, Ubuntu, 24.04, amd64 noble image",
                OsFamily::Ubuntu,
                Some("ubuntu"),
            ),
            (
                "Flatcar-stable-4230.2.3-hvm",
                "Flatcar Container Linux stable 4230.2.3 (HVM)",
                OsFamily::Flatcar,
                Some("core"),
            ),
            (
                "fedora-coreos-42.20251101.3.0-x86_64",
                "Fedora CoreOS stable 42",
                OsFamily::FedoraCoreOs,
                Some("core"),
            ),
            (
                "CoreOS-stable-1911.5.0-hvm",
                "",
                OsFamily::CoreOs,
                Some("core"),
            ),
            (
                "debian-12-amd64-20251101-2000",
                "Debian 12 (20251101-2000)",
                OsFamily::Debian,
                Some("admin"),
            ),
            (
                "CentOS Stream 9 x86_64",
                "",
                OsFamily::CentOs,
                Some("centos"),
            ),
            (
                "RHEL-9.4.0_HVM-20240605-x86_64",
                "",
                OsFamily::Rhel,
                Some("ec2-user"),
            ),
            (
                "suse-sles-15-sp6-v20250101-hvm-ssd-x86_64",
                "",
                OsFamily::Suse,
                Some("ec2-user"),
            ),
            ("Rocky-9-EC2-Base-9.4", "", OsFamily::Rocky, Some("rocky")),
            ("Fedora-Cloud-Base-41", "", OsFamily::Fedora, Some("fedora")),
            (
                "bitnami-nginx-1.27.0-linux-debian-12",
                "",
                OsFamily::Bitnami,
                Some("bitnami"),
            ),
            (
                "OL9.4-x86_64-HVM-2024-06-01",
                "Oracle Linux 9 update 4",
                OsFamily::OracleLinux,
                Some("ec2-user"),
            ),
            (
                "FreeBSD 14.1-RELEASE-amd64",
                "",
                OsFamily::FreeBsd,
                Some("ec2-user"),
            ),
            (
                "bottlerocket-aws-ecs-2-x86_64-v1.50.0-5e3c1a2b",
                "",
                OsFamily::Bottlerocket,
                None,
            ),
            (
                "Windows_Server-2022-English-Full-ECS_Optimized-2025.11.13",
                "",
                OsFamily::Windows,
                Some("Administrator"),
            ),
            (
                "my-golden-image-42",
                "built by packer",
                OsFamily::Unknown,
                Some("ec2-user"),
            ),
        ];
        for (name, description, family, user) in table {
            let got = classify(Some(&image(name, description)), None);
            assert_eq!(got, family, "{name}");
            assert_eq!(got.default_user(), user, "{name}");
        }
    }

    #[test]
    fn platform_wins_and_missing_image_is_unknown() {
        assert_eq!(classify(None, Some("windows")), OsFamily::Windows);
        assert_eq!(classify(None, Some("Windows")), OsFamily::Windows);
        assert_eq!(classify(None, None), OsFamily::Unknown);
        let ubuntu = image("ubuntu-jammy", "");
        assert_eq!(classify(Some(&ubuntu), Some("windows")), OsFamily::Windows);
    }
}
