//! `tandem componentize`: core module in, component out.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use tandem::componentize::{Adapter, componentize_with as encode};

use super::{Failure, write_if_changed};

#[derive(Args)]
pub struct ComponentizeArgs {
    /// The core module, as built by `cargo build --target wasm32-wasip1` of a crate using tandem-sdk.
    module: PathBuf,
    /// Where to write the component.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Make a `wasi:http` proxy component (a handler `wasmtime serve` runs) instead of an agent:
    /// the WASI adapter then imports only what the proxy world has.
    #[arg(long)]
    proxy: bool,
}

pub fn componentize(args: ComponentizeArgs) -> Result<ExitCode, Failure> {
    let io = |path: &PathBuf, e: std::io::Error| {
        Failure::invalid_input(format!("{}: {e}", path.display()))
    };
    let module = std::fs::read(&args.module).map_err(|e| io(&args.module, e))?;
    let adapter = if args.proxy {
        Adapter::Proxy
    } else {
        Adapter::Reactor
    };
    let component = encode(&module, adapter)
        .map_err(|e| Failure::invalid_input(format!("{}: {e}", args.module.display())))?;
    // Rebuilding with nothing changed leaves the output alone.
    write_if_changed(&args.output, &component)?;
    Ok(ExitCode::SUCCESS)
}
