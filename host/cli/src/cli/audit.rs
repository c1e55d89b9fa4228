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
    /// Verify a log with its rotated files (`FILE.<seq>`): exit 0 and print the head hash when it
    /// is intact, exit 1 naming each bad line (and its file) otherwise.
    Verify {
        /// The audit log (JSON lines): the active file.
        file: PathBuf,
    },
}

pub fn audit(args: AuditArgs) -> Result<ExitCode, Failure> {
    let AuditCommand::Verify { file } = args.command;
    let rotated = tandem::audit::rotated_files(&file).map_err(|e| Failure::file(&file, e))?;
    if !file.exists() && rotated.is_empty() {
        return Err(Failure::file(
            &file,
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
    }
    match tandem::audit::verify_set(&file) {
        Ok(verified) => {
            let files = verified.files.len();
            let set = if files > 1 || verified.first_seq > 1 {
                format!(
                    " in {files} files from seq {} (rotated files first)",
                    verified.first_seq
                )
            } else {
                String::new()
            };
            outln!(
                "{}: intact, {} lines{set}, head {}",
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
