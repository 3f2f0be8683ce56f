//! How results are shown: `--output` and `--color`.

use super::named::Named;

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Json,
}

impl Named for OutputFormat {
    const WHAT: &'static str = "an output format";
    const ALL: &'static [(Self, &'static str, &'static str)] = &[
        (Self::Table, "table", "Tables and lines for people"),
        (Self::Json, "json", "JSON for scripts"),
    ];
}

crate::model::named::named_text!(OutputFormat);

/// `--color`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

impl Named for ColorChoice {
    const WHAT: &'static str = "a colour choice";
    const ALL: &'static [(Self, &'static str, &'static str)] = &[
        (Self::Auto, "auto", "On a terminal, unless NO_COLOR is set"),
        (Self::Always, "always", "Always"),
        (Self::Never, "never", "Never"),
    ];
}

crate::model::named::named_text!(ColorChoice);
