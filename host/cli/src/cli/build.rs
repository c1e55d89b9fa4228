//! `tandem build [DIR]`: builds the agent in DIR into a component in the agents directory, with its
//! manifest beside it: what `just agents` does, for one agent. The language is told from DIR's
//! files: a Rust crate (`Cargo.toml`, [`rust`]) or a Python agent (`app.py`, [`python`]). It
//! installs nothing: when a tool is missing it says which, and the one command that installs it.
//! The tools' own progress is shown as they work.

mod python;
mod rust;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::anyhow;
use clap::Args;
use tandem::ErrorKind;

use super::{Failure, write_if_changed};

#[derive(Args)]
pub struct BuildArgs {
    /// The agent's directory: a Rust crate whose Cargo.toml builds a `cdylib` with tandem-sdk, or
    /// a Python agent (`app.py` with the `tandem_agent` helper).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Where the component (`<name>.wasm`) and its manifest (`<name>.toml`) go.
    #[command(flatten)]
    agents: super::AgentsDir,
}

/// A component built from an agent's sources.
pub struct Built {
    /// The agent's name: the crate's, or the Python agent's directory's.
    id: String,
    /// Where its sources (and its manifest, `<id>.toml`) are.
    dir: PathBuf,
    /// The component.
    component: Vec<u8>,
}

fn failed(kind: ErrorKind, message: String) -> Failure {
    Failure::new(kind, anyhow!(message))
}

/// Whether `program --version` runs and succeeds: the tool is installed.
fn runs(program: &Path) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn build(args: BuildArgs) -> Result<ExitCode, Failure> {
    let started = Instant::now();
    let dir = &args.dir;
    let built = if dir.join("Cargo.toml").is_file() {
        rust::build(dir)?
    } else if dir.join("app.py").is_file() {
        python::build(dir)?
    } else if dir.join("package.json").is_file() {
        return Err(Failure::invalid_input(format!(
            "{}: a JavaScript package: JavaScript agents are not built yet",
            dir.display()
        )));
    } else {
        return Err(Failure::invalid_input(format!(
            "{}: neither a Rust agent crate (Cargo.toml) nor a Python agent (app.py)",
            dir.display()
        )));
    };
    let out_dir = &args.agents.path;
    std::fs::create_dir_all(out_dir).map_err(|e| Failure::file(out_dir, e))?;
    let out = out_dir.join(format!("{}.wasm", built.id));
    write_if_changed(&out, &built.component)?;
    let manifest = built.dir.join(format!("{}.toml", built.id));
    let copied = if manifest.is_file() {
        let text = std::fs::read(&manifest).map_err(|e| Failure::file(&manifest, e))?;
        write_if_changed(&out.with_extension("toml"), &text)?;
        format!(
            ", its manifest beside it ({})",
            out.with_extension("toml").display()
        )
    } else {
        String::new()
    };
    outln!(
        "built {} ({} KiB) in {:.1} s{copied}",
        out.display(),
        built.component.len().div_ceil(1024),
        started.elapsed().as_secs_f64()
    );
    outln!("next: tandem inspect {}", out.display());
    Ok(ExitCode::SUCCESS)
}
