//! The `tandem` command: parses arguments and hands each subcommand to `cli`.

mod cli;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::init_tracing(&args.global);
    let log_format = args.global.log_format;
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = args.global.workers {
        builder.worker_threads(usize::from(workers));
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error[internal]: cannot start the async runtime: {e}");
            return ExitCode::from(70);
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(code) => code,
        Err(failure) => {
            // Our errors carry their causes in their own message, so the chain is not printed again.
            // With `--log-format json`, stderr carries JSON only.
            let line = match log_format {
                cli::LogFormat::Json => serde_json::json!({
                    "timestamp": humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string(),
                    "level": "ERROR",
                    "fields": {"message": failure.error.to_string(), "kind": failure.kind.as_str()},
                    "target": "tandem",
                })
                .to_string(),
                cli::LogFormat::Text => format!("error[{}]: {}", failure.kind, failure.error),
            };
            let _ = writeln!(std::io::stderr(), "{line}");
            ExitCode::from(failure.kind.exit_code())
        }
    }
}
