//! Running the programs of an RDP plan, one after the other.
//!
//! The password reaches a program only through its stdin: berth writes it
//! to a pipe, closes the pipe, and wipes its own copy. Programs inherit
//! berth's environment, which never holds the password. The last program's
//! exit status becomes berth's, as ssh's does for `berth ssh`; a signal to
//! berth goes to the running program, and berth outlives it to clean up.

use pkcs8::der::zeroize::Zeroizing;

use super::TransportError;
use super::session::{self, Interrupts, Outcome};
use crate::plan::rdp::Step;
use crate::secrets::password::WindowsPassword;

/// Runs `steps` in order; stops at the first that fails or is interrupted.
pub async fn run(
    steps: &[Step],
    password: &WindowsPassword,
    interrupts: &mut Interrupts,
) -> Result<Outcome, TransportError> {
    let mut last = Outcome {
        code: 0,
        interrupted_by: None,
        killed_by: None,
    };
    for (i, step) in steps.iter().enumerate() {
        let input = step
            .stdin
            .map(|input| Zeroizing::new(input.render(password.expose())));
        last = session::run_with_input(
            &step.argv,
            input.as_ref().map(|text| text.as_bytes()),
            interrupts,
            |program, source| TransportError::RdpClient { program, source },
        )
        .await?;
        if last.interrupted_by.is_none() && last.code != 0 && i + 1 < steps.len() {
            return Err(TransportError::Failed {
                program: step.argv.first().cloned().unwrap_or_default(),
                status: last.code,
            });
        }
        if last.interrupted_by.is_some() {
            break;
        }
    }
    Ok(last)
}
