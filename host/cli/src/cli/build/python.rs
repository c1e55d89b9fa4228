//! The Python route of `tandem build`: `app.py` (with the `tandem_agent` helper, shipped inside the
//! `tandem` binary with the WIT contract) made a component of the world `described-agent` by
//! componentize-py, which bundles CPython and the agent's modules.

use std::path::{Path, PathBuf};
use std::process::Command;

use tandem::ErrorKind;

use super::{Built, Scratch, WIT, agent_id, failed, runs, step};
use crate::cli::Failure;

/// The componentize-py release the helper and the tests are checked with.
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

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
    let scratch = Scratch::new()?;
    let wit_dir = scratch.write("wit/agent.wit", WIT)?;
    let helper_dir = scratch.write("python/tandem_agent.py", HELPER)?;
    // componentize-py leaves `__pycache__` where the modules are: build from a copy.
    let sources = scratch.path().join("agent");
    copy_python_sources(&dir, &sources)?;
    let out = scratch.path().join(format!("{id}.wasm"));
    eprintln!(
        "==> making a component of {}/app.py with componentize-py",
        dir.display()
    );
    step(
        Command::new(&program)
            .arg("-d")
            .arg(&wit_dir)
            .args(["-w", "described-agent", "componentize", "app", "-p"])
            .arg(&sources)
            .arg("-p")
            .arg(&helper_dir)
            .arg("-o")
            .arg(&out),
        format!("componentize-py could not build {}/app.py", dir.display()),
    )?;
    let component = std::fs::read(&out).map_err(|e| Failure::file(&out, e))?;
    Ok(Built { id, dir, component })
}
