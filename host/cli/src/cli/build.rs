//! `tandem build [DIR]`: builds the agent in DIR into a component in the agents directory, with its
//! manifest beside it: what `just agents` does, for one agent. The language is told from DIR's
//! files: a Rust crate (`Cargo.toml`, [`rust`]), a Python agent (`app.py`, [`python`]) or a
//! JavaScript agent (`app.js`, [`js`]). It installs nothing: when a tool is missing it says which,
//! and the one command that installs it. The tools' own progress is shown as they work.

mod js;
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
    /// The agent's directory: a Rust crate whose Cargo.toml builds a `cdylib` with tandem-sdk, a
    /// Python agent (`app.py` with the `tandem_agent` helper) or a JavaScript agent (`app.js` with
    /// the `tandem-agent` helper).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Where the component (`<name>.wasm`) and its manifest (`<name>.toml`) go.
    #[command(flatten)]
    agents: super::AgentsDir,
}

/// A component built from an agent's sources.
pub struct Built {
    /// The agent's name: the crate's, or the Python or JavaScript agent's directory's.
    id: String,
    /// Where its sources (and its manifest, `<id>.toml`) are.
    dir: PathBuf,
    /// The component.
    component: Vec<u8>,
}

fn failed(kind: ErrorKind, message: String) -> Failure {
    Failure::new(kind, anyhow!(message))
}

/// The contract, as the host that built this binary implements it (the Python and JavaScript
/// routes build against it).
const WIT: &str = include_str!("../../../../wit/agent.wit");

/// A private directory for one build's files (the contract, a helper, the tool's output), removed
/// when dropped.
struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new() -> Result<Scratch, Failure> {
        let dir = tempfile::Builder::new()
            .prefix("tandem-build-")
            .tempdir()
            .map_err(|e| Failure::file(&std::env::temp_dir(), e))?;
        Ok(Scratch(dir))
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    /// Writes `text` to `relative` under the scratch directory; returns the directory it is in.
    fn write(&self, relative: &str, text: &str) -> Result<PathBuf, Failure> {
        let path = self.path().join(relative);
        let parent = path.parent().unwrap_or(self.path()).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(|e| Failure::file(&parent, e))?;
        std::fs::write(&path, text).map_err(|e| Failure::file(&path, e))?;
        Ok(parent)
    }
}

/// The agent's id and its directory, made absolute: a Python or JavaScript agent's id is its
/// directory's name, which must be a valid agent id.
fn agent_id(dir: &Path) -> Result<(String, PathBuf), Failure> {
    let dir = dir.canonicalize().map_err(|e| Failure::file(dir, e))?;
    let id = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    tandem::manifest::check_name("agent id", &id).map_err(|e| {
        Failure::invalid_input(format!(
            "{}: the directory's name is the agent's id: {e}",
            dir.display()
        ))
    })?;
    Ok((id, dir))
}

/// Whether the agent's manifest in `dir` (`<id>.toml`) has `[[egress.allow]]` rules: then its
/// component may import `wasi:http`, which the host links only for agents granted egress.
fn grants_egress(dir: &Path, id: &str) -> bool {
    let manifest = dir.join(format!("{id}.toml"));
    manifest.is_file()
        && tandem::manifest::Manifest::read(&manifest).is_ok_and(|m| !m.egress.allow.is_empty())
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

/// Runs one step of the build; `what` names it in the error when it fails.
fn step(command: &mut Command, what: String) -> Result<(), Failure> {
    let program = command.get_program().to_owned();
    let status = command.stdin(Stdio::null()).status().map_err(|e| {
        failed(
            ErrorKind::Unavailable,
            format!("cannot run {}: {e}", Path::new(&program).display()),
        )
    })?;
    if !status.success() {
        return Err(Failure::invalid_input(format!(
            "{what} (its errors are above)"
        )));
    }
    Ok(())
}

pub fn build(args: BuildArgs) -> Result<ExitCode, Failure> {
    let started = Instant::now();
    let dir = &args.dir;
    let built = if dir.join("Cargo.toml").is_file() {
        rust::build(dir)?
    } else if dir.join("app.py").is_file() {
        python::build(dir)?
    } else if dir.join("app.js").is_file() {
        js::build(dir)?
    } else {
        return Err(Failure::invalid_input(format!(
            "{}: not an agent: no Cargo.toml (Rust), app.py (Python) or app.js (JavaScript)",
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
