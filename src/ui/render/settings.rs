//! `berth config`: one row per effective setting with its source.

use std::io::{self, Write};

use crate::effective::Effective;

pub fn settings_table(out: &mut dyn Write, rows: &[Effective]) -> io::Result<()> {
    let mut t = super::table(&["KEY", "VALUE", "SOURCE"], super::Palette::new(false));
    for row in rows {
        t.add_row(vec![
            row.key.clone(),
            row.value.clone(),
            row.source.to_string(),
        ]);
    }
    super::write_table(out, t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effective::Source;

    #[test]
    fn one_row_per_setting_with_its_source() {
        let rows = vec![
            Effective {
                key: "region".into(),
                value: "eu-west-1".into(),
                source: Source::Env {
                    var: "BERTH_REGION".into(),
                },
            },
            Effective {
                key: "via".into(),
                value: "private".into(),
                source: Source::File {
                    path: "/home/op/.config/berth/config.toml".into(),
                    key: "via".into(),
                },
            },
            Effective {
                key: "cache_ttl".into(),
                value: "1m".into(),
                source: Source::Default,
            },
        ];
        let mut out = Vec::new();
        settings_table(&mut out, &rows).expect("write");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "KEY        VALUE      SOURCE\n\
             region     eu-west-1  env BERTH_REGION\n\
             via        private    file\n\
             cache_ttl  1m         default\n"
        );
    }
}
