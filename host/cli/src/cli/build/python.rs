//! The Python route of `tandem build`: `app.py` (with the `tandem_agent` helper, shipped inside the
//! `tandem` binary with the WIT contract) made a component of the world `described-agent` by
//! componentize-py, which bundles CPython and the agent's modules.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tandem::ErrorKind;

use super::{Built, failed, runs};
use crate::cli::Failure;

/// The componentize-py release the helper and the tests are checked with.
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

/// The contract, as the host that built this binary implements it.
const WIT: &str = include_str!("../../../../../wit/agent.wit");

/// The Python helper (`sdk/python/tandem_agent.py`).
const HELPER: &str = include_str!("../../../../../sdk/python/tandem_agent.py");

/// The componentize-py to run: `$TANDEM_COMPONENTIZE_PY`, else the one on `PATH`.
fn componentize_py() -> Result<PathBuf, Failure> {
    let program = std::env::var_os("TANDEM_COMPONENTIZE_PY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("componentize-py"));
    if !runs(&program) {
        return Err(failed(
            ErrorKind::Unavailable,
            format!(
                "componentize-py is not installed (or $TANDEM_COMPONENTIZE_PY does not run); install it with: pip install {COMPONENTIZE_PY}"
            ),
        ));
    }
    Ok(program)
}

/// A directory removed when dropped: the contract and the helper, written out for one build.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The agent's id: its directory's name, which must be a valid agent id.
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

/// Copies the Python modules and packages under `from` to `to` (not `__pycache__`, nor hidden
/// directories).
fn copy_python_sources(from: &Path, to: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(to).map_err(|e| Failure::file(to, e))?;
    let entries = std::fs::read_dir(from).map_err(|e| Failure::file(from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Failure::file(from, e))?;
        let (path, name) = (entry.path(), entry.file_name());
        let name_text = name.to_string_lossy();
        let kind = entry.file_type().map_err(|e| Failure::file(&path, e))?;
        if kind.is_dir() && name_text != "__pycache__" && !name_text.starts_with('.') {
            copy_python_sources(&path, &to.join(&name))?;
        } else if kind.is_file() && name_text.ends_with(".py") {
            std::fs::copy(&path, to.join(&name)).map_err(|e| Failure::file(&path, e))?;
        }
    }
    Ok(())
}

/// Builds the Python agent in `dir` (its `app.py`) into a component.
pub fn build(dir: &Path) -> Result<Built, Failure> {
    let (id, dir) = agent_id(dir)?;
    let program = componentize_py()?;
    let scratch =
        Scratch(std::env::temp_dir().join(format!("tandem-build-{}", std::process::id())));
    let (wit_dir, helper_dir) = (scratch.0.join("wit"), scratch.0.join("python"));
    for (path, text) in [
        (wit_dir.join("agent.wit"), WIT),
        (helper_dir.join("tandem_agent.py"), HELPER),
    ] {
        let parent = path.parent().unwrap_or(&scratch.0);
        std::fs::create_dir_all(parent).map_err(|e| Failure::file(parent, e))?;
        std::fs::write(&path, text).map_err(|e| Failure::file(&path, e))?;
    }
    // componentize-py leaves `__pycache__` where the modules are: build from a copy.
    let sources = scratch.0.join("agent");
    copy_python_sources(&dir, &sources)?;
    let out = scratch.0.join(format!("{id}.wasm"));
    eprintln!(
        "==> making a component of {}/app.py with componentize-py",
        dir.display()
    );
    let status = Command::new(&program)
        .arg("-d")
        .arg(&wit_dir)
        .args(["-w", "described-agent", "componentize", "app", "-p"])
        .arg(&sources)
        .arg("-p")
        .arg(&helper_dir)
        .arg("-o")
        .arg(&out)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| {
            failed(
                ErrorKind::Unavailable,
                format!("cannot run {}: {e}", program.display()),
            )
        })?;
    if !status.success() {
        return Err(Failure::invalid_input(format!(
            "componentize-py could not build {}/app.py (its errors are above)",
            dir.display()
        )));
    }
    let component = std::fs::read(&out).map_err(|e| Failure::file(&out, e))?;
    Ok(Built { id, dir, component })
}
