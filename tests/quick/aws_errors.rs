//! AWS's refusals, each with its exit status and the fix: the fake answers
//! DescribeInstances with the error as EC2 writes it.

use crate::support::cases::{case, check};
use crate::support::fake_aws::Reply;
use crate::with_aws;

#[test]
fn aws_refusals_have_their_exit_status_and_fix() {
    let target = "i-0123456789abcdef0";
    // (EC2's status and code, berth's exit status, words of the message)
    let table: Vec<(u16, &str, i32, Vec<&str>)> = vec![
        (
            403,
            "UnauthorizedOperation",
            5,
            vec!["UnauthorizedOperation", "ec2:DescribeInstances"],
        ),
        (
            401,
            "AuthFailure",
            6,
            vec!["no usable AWS credentials", "aws configure"],
        ),
        (
            400,
            "RequestExpired",
            6,
            vec!["no usable AWS credentials", "RequestExpired"],
        ),
    ];
    for (status, code, exit, says) in table {
        let (berth, aws) = with_aws(vec![(
            "DescribeInstances",
            Reply::ec2_error(status, code, "as the fake says").into(),
        )]);
        let cases = vec![case(code, &["ssh", target, "--dry-run"], exit, &says)];
        assert_eq!(check(&berth, cases), 1);
        assert!(
            aws.calls().iter().all(|c| c == "DescribeInstances"),
            "{:?}",
            aws.calls()
        );
    }
}
