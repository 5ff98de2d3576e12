//! Running external programs with errors that say what failed.

use std::io::ErrorKind;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Prints a progress line, `==> what`, to stderr.
pub fn step(what: &str) {
    eprintln!("==> {what}");
}

/// Runs `command` to completion (output goes to the terminal) and fails
/// unless it exits successfully. `missing` explains what to install when
/// the program itself is not found.
pub fn run(command: &mut Command, missing: &str) -> Result<()> {
    let status = command
        .status()
        .map_err(|error| spawn_error(command, error, missing))?;
    if !status.success() {
        bail!("`{}` failed ({status})", describe(command));
    }
    Ok(())
}

/// Runs `command` and returns its stdout as text.
pub fn output(command: &mut Command, missing: &str) -> Result<String> {
    let output = command
        .output()
        .map_err(|error| spawn_error(command, error, missing))?;
    if !output.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            describe(command),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8(output.stdout)
        .with_context(|| format!("`{}` printed non-UTF-8", describe(command)))
}

/// Whether spawning failed because the program is not installed.
pub fn is_not_found(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<std::io::Error>()
        .is_some_and(|error| error.kind() == ErrorKind::NotFound)
}

fn spawn_error(command: &Command, error: std::io::Error, missing: &str) -> anyhow::Error {
    let program = command.get_program().to_string_lossy().into_owned();
    if error.kind() == ErrorKind::NotFound {
        anyhow::Error::new(error).context(format!("`{program}` is not installed: {missing}"))
    } else {
        anyhow::Error::new(error).context(format!("could not start `{}`", describe(command)))
    }
}

/// The command line, for messages.
pub fn describe(command: &Command) -> String {
    let mut words = vec![command.get_program().to_string_lossy().into_owned()];
    words.extend(
        command
            .get_args()
            .map(|arg| arg.to_string_lossy().into_owned()),
    );
    words.join(" ")
}
