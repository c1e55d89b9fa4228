//! The JavaScript route of `tandem build`: `app.js` bundled with its npm dependencies and the
//! `tandem-agent` helper (shipped inside the `tandem` binary with the WIT contract) by esbuild, then
//! made a component of the world `described-agent` by componentize-js, which embeds the bundle in
//! StarlingMonkey (SpiderMonkey for WASI).

use std::path::{Path, PathBuf};
use std::process::Command;

use tandem::ErrorKind;

use super::{Built, Scratch, WIT, agent_id, failed, grants_egress, runs, step};
use crate::cli::Failure;

/// The npm packages the route runs, at the releases the helper and the tests are checked with
/// (componentize-js 0.23.0 needs preview2-shim at run time but lists it only for its own tests).
const TOOLS: &str = "@bytecodealliance/componentize-js@0.23.0 @bytecodealliance/preview2-shim@0.17.4 esbuild@0.28.2";

/// The JavaScript helper (`sdk/js/tandem_agent.js`), imported by agents as `tandem-agent`.
const HELPER: &str = include_str!("../../../../../sdk/js/tandem_agent.js");

/// The tool `name` to run: `$variable`, else the one npm installed for the agent (in
/// `node_modules/.bin` of its directory or of one above it, as `npx` looks), else the one on `PATH`.
fn tool(variable: &str, name: &str, dir: &Path) -> Result<PathBuf, Failure> {
    let program = std::env::var_os(variable)
        .map(PathBuf::from)
        .or_else(|| {
            dir.ancestors()
                .map(|d| d.join("node_modules/.bin").join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| PathBuf::from(name));
    if !runs(&program) {
        return Err(failed(
            ErrorKind::Unavailable,
            format!(
                "{name} is not installed (nor in {}'s node_modules, nor on PATH, or ${variable} does not run); install the tools with: npm install --save-dev {TOOLS}",
                dir.display()
            ),
        ));
    }
    Ok(program)
}

/// Builds the JavaScript agent in `dir` (its `app.js`, an ES module) into a component.
pub fn build(dir: &Path) -> Result<Built, Failure> {
    let (id, dir) = agent_id(dir)?;
    let esbuild = tool("TANDEM_ESBUILD", "esbuild", &dir)?;
    let componentize_js = tool("TANDEM_COMPONENTIZE_JS", "componentize-js", &dir)?;
    let scratch = Scratch::new()?;
    let wit_dir = scratch.write("wit/agent.wit", WIT)?;
    let helper = scratch.write("js/tandem_agent.js", HELPER)?;
    let bundle = scratch.path().join(format!("{id}.js"));
    eprintln!(
        "==> bundling {}/app.js and its imports with esbuild",
        dir.display()
    );
    step(
        Command::new(&esbuild)
            .arg(dir.join("app.js"))
            .args([
                "--bundle",
                "--format=esm",
                "--platform=neutral",
                "--main-fields=module,main",
                "--external:tandem:*",
                "--log-level=warning",
            ])
            .arg(format!(
                "--alias:tandem-agent={}",
                helper.join("tandem_agent.js").display()
            ))
            .arg(format!("--outfile={}", bundle.display())),
        format!(
            "esbuild could not bundle {}/app.js (`npm install` in {} installs the dependencies its package.json names)",
            dir.display(),
            dir.display()
        ),
    )?;
    let out = scratch.path().join(format!("{id}.wasm"));
    eprintln!("==> making a component of the bundle with componentize-js");
    step(
        Command::new(&componentize_js)
            .arg(&bundle)
            .arg("-w")
            .arg(&wit_dir)
            .args(["-n", "described-agent", "-d"])
            .args(disabled_features(&dir, &id))
            .arg("-o")
            .arg(&out),
        format!(
            "componentize-js could not make a component of {}/app.js",
            dir.display()
        ),
    )?;
    let component = std::fs::read(&out).map_err(|e| Failure::file(&out, e))?;
    Ok(Built { id, dir, component })
}

/// The StarlingMonkey features left out of the component: incoming `fetch` events always, and
/// `fetch` itself (`wasi:http`) unless the agent's manifest grants egress, since the host links
/// `wasi:http` only for agents granted it.
fn disabled_features(dir: &Path, id: &str) -> &'static [&'static str] {
    if grants_egress(dir, id) {
        &["fetch-event"]
    } else {
        &["http", "fetch-event"]
    }
}
