//! The Python route of `tandem build`: `app.py` (with the `tandem_agent` helper, shipped inside the
//! `tandem` binary with the WIT contract) made a component of the world `described-agent` by
//! componentize-py, which bundles CPython and the agent's modules. An agent whose manifest grants
//! egress is built for `described-agent-http`, the same world importing `wasi:http` (its WIT,
//! wasmtime's own, is shipped in the binary too), which the helper's `fetch` uses.

use std::path::{Path, PathBuf};
use std::process::Command;

use tandem::ErrorKind;

use super::{Built, Scratch, WIT, agent_id, failed, grants_egress, runs, step};
use crate::cli::Failure;

/// The componentize-py release the helper and the tests are checked with.
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

/// The Python helper (`sdk/python/tandem_agent.py`).
const HELPER: &str = include_str!("../../../../../sdk/python/tandem_agent.py");

/// The WASI 0.2.12 packages `wasi:http` needs, as wasmtime 48 implements them (`sdk/python/wit/`).
const WASI_HTTP_WIT: [(&str, &str); 7] = [
    (
        "cli",
        include_str!("../../../../../sdk/python/wit/deps/cli.wit"),
    ),
    (
        "clocks",
        include_str!("../../../../../sdk/python/wit/deps/clocks.wit"),
    ),
    (
        "filesystem",
        include_str!("../../../../../sdk/python/wit/deps/filesystem.wit"),
    ),
    (
        "http",
        include_str!("../../../../../sdk/python/wit/deps/http.wit"),
    ),
    (
        "io",
        include_str!("../../../../../sdk/python/wit/deps/io.wit"),
    ),
    (
        "random",
        include_str!("../../../../../sdk/python/wit/deps/random.wit"),
    ),
    (
        "sockets",
        include_str!("../../../../../sdk/python/wit/deps/sockets.wit"),
    ),
];

/// Writes the world of an agent granted egress beside the contract in `scratch`'s `wit/`, with the
/// WASI packages it needs, and returns its name.
fn add_http_world(scratch: &Scratch) -> Result<&'static str, Failure> {
    let package = WIT
        .lines()
        .find_map(|line| line.strip_prefix("package "))
        .unwrap_or("tandem:agent;");
    scratch.write(
        "wit/http.wit",
        &format!(
            "package {package}\n\n/// An agent that may make outbound HTTP requests.\nworld described-agent-http {{\n  include described-agent;\n  import wasi:http/outgoing-handler@0.2.12;\n}}\n"
        ),
    )?;
    for (name, text) in WASI_HTTP_WIT {
        scratch.write(&format!("wit/deps/{name}.wit"), text)?;
    }
    Ok("described-agent-http")
}

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
    let world = if grants_egress(&dir, &id) {
        add_http_world(&scratch)?
    } else {
        "described-agent"
    };
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
            .args(["-w", world, "componentize", "app", "-p"])
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
