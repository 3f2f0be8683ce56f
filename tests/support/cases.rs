//! Bad input as tables of cases: each runs berth and must end with its
//! exit status and a message that names the problem and the fix, without
//! a panic.

use super::{Berth, Run};

/// One case: what runs, the status it must end with, and words the
/// message must hold (the problem, then the fix).
pub struct Case<'a> {
    pub name: &'a str,
    pub args: Vec<String>,
    pub code: i32,
    pub says: Vec<String>,
}

pub fn case(name: &str, args: &[&str], code: i32, says: &[&str]) -> Case<'static> {
    Case {
        name: Box::leak(name.to_owned().into_boxed_str()),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        code,
        says: says.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// Runs each case with `berth` and checks it; the count of cases run.
pub fn check(berth: &Berth, cases: Vec<Case<'_>>) -> usize {
    let count = cases.len();
    for case in cases {
        let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
        let run = berth.run(&args);
        assert_case(&case, &run);
    }
    count
}

pub fn assert_case(case: &Case<'_>, run: &Run) {
    assert_eq!(
        run.code, case.code,
        "{}: wrong exit status: {run:#?}",
        case.name
    );
    assert!(
        !run.stderr.contains("panicked") && !run.stderr.contains("RUST_BACKTRACE"),
        "{}: berth panicked: {run:#?}",
        case.name
    );
    for needle in &case.says {
        assert!(
            run.stderr.contains(needle.as_str()),
            "{}: stderr lacks {needle:?}: {run:#?}",
            case.name
        );
    }
    if case.code != 0 {
        assert!(
            run.stderr.contains("hint:") || run.stderr.contains("For more information, try"),
            "{}: no fix offered: {run:#?}",
            case.name
        );
    }
}
