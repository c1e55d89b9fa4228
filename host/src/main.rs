//! The `tandem` command: parses arguments and hands each subcommand to `cli`.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::init_tracing(&args.global);
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
            eprintln!("error[{}]: {}", failure.kind, failure.error);
            ExitCode::from(failure.kind.exit_code())
        }
    }
}
