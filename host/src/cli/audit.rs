//! `tandem audit verify`: checks an audit log's hash chain and names every line that was edited,
//! removed, inserted or moved.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::Failure;

#[derive(Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify a log: exit 0 and print the head hash when it is intact, exit 1 naming each bad line
    /// otherwise.
    Verify {
        /// The audit log (JSON lines).
        file: PathBuf,
    },
}

pub fn audit(args: AuditArgs) -> Result<ExitCode, Failure> {
    let AuditCommand::Verify { file } = args.command;
    let reader = std::fs::File::open(&file).map_err(|e| Failure::file(&file, e))?;
    match tandem::audit::verify(std::io::BufReader::new(reader)) {
        Ok(verified) => {
            outln!(
                "{}: intact, {} lines, head {}",
                file.display(),
                verified.lines,
                verified.head
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(problems) => {
            outln!("{}: {} problem(s)", file.display(), problems.len());
            for problem in &problems {
                outln!("  {problem}");
            }
            Ok(ExitCode::from(1))
        }
    }
}
