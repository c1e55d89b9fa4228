//! Templates as data: a directory with a `template.toml` (what the template makes, its variables
//! and their kinds, the commands to run next) and the files to render, whose paths and contents may
//! hold placeholders (`{{ name }}`); a trailing `.tmpl` is dropped from a file's name. The built-in
//! templates are this crate's `templates/` directory, embedded; a user's come from a directory
//! granted to the agent, read within bounds and cached in the agent's state until a file in them
//! changes (their size or modification time).

use std::collections::BTreeMap;
use std::path::Path;

use include_dir::{Dir, include_dir};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tandem_sdk::{AgentError, state};

use crate::names::Kind;

static BUILT_IN: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// The file in a template's directory that describes it.
const SPEC_FILE: &str = "template.toml";

/// Bounds on a user's template: files, bytes per file, bytes in all.
const MAX_FILES: usize = 500;
const MAX_FILE_BYTES: u64 = 1024 * 1024;
const MAX_TOTAL_BYTES: u64 = 8 * 1024 * 1024;

/// What `template.toml` says.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub description: String,
    #[serde(default)]
    pub ecosystem: Option<String>,
    /// Commands to run after scaffolding, themselves templates (`{{ dest }}` is the destination).
    #[serde(default)]
    pub next: Vec<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, Variable>,
}

/// One variable of a template.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    pub kind: Kind,
    #[serde(default)]
    pub description: String,
    /// The value when the caller gives none; without one the variable is required.
    #[serde(default)]
    pub default: Option<String>,
}

/// A file of a template: its path relative to the template (placeholders and `.tmpl` still in it)
/// and its text.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct File {
    pub path: String,
    pub text: String,
}

/// A template ready to render.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Template {
    pub name: String,
    /// `built-in`, or the directory of the user's templates it came from.
    pub source: String,
    pub spec: Spec,
    pub files: Vec<File>,
}

fn parse_spec(name: &str, text: &str) -> Result<Spec, AgentError> {
    toml::from_str(text).map_err(|e| {
        AgentError::invalid(format!(
            "template `{name}`: {SPEC_FILE} is not valid: {}",
            e.to_string().trim_end()
        ))
    })
}

/// The built-in templates, by name.
pub fn built_in() -> Result<Vec<Template>, AgentError> {
    let mut templates = BUILT_IN
        .dirs()
        .map(|dir| {
            let name = dir.path().to_string_lossy().into_owned();
            let spec_text = dir
                .get_file(dir.path().join(SPEC_FILE))
                .and_then(|f| f.contents_utf8())
                .ok_or_else(|| {
                    AgentError::failed(format!("built-in template `{name}` has no {SPEC_FILE}"))
                })?;
            let mut files = Vec::new();
            embedded_files(dir, dir.path(), &mut files);
            files.retain(|f| f.path != SPEC_FILE);
            files.sort_by(|a, b| a.path.cmp(&b.path));
            Ok(Template {
                spec: parse_spec(&name, spec_text)?,
                name,
                source: "built-in".to_string(),
                files,
            })
        })
        .collect::<Result<Vec<_>, AgentError>>()?;
    templates.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(templates)
}

fn embedded_files(dir: &Dir<'_>, root: &Path, out: &mut Vec<File>) {
    for file in dir.files() {
        let path = file.path().strip_prefix(root).unwrap_or(file.path());
        out.push(File {
            path: path.to_string_lossy().into_owned(),
            text: String::from_utf8_lossy(file.contents()).into_owned(),
        });
    }
    for sub in dir.dirs() {
        embedded_files(sub, root, out);
    }
}

/// Whether a user's template was read from its files or taken from the agent's state.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Cache {
    Hit,
    Miss,
}

/// The templates in the user's directory `root` (each subdirectory with a `template.toml`), from
/// the agent's state when none of their files changed since they were last read.
pub fn user(root: &str) -> Result<Vec<(Template, Cache)>, AgentError> {
    user_names(root)?
        .iter()
        .map(|name| cached(root, name))
        .collect()
}

/// The names of the user's templates in `root`: its subdirectories with a `template.toml`.
fn user_names(root: &str) -> Result<Vec<String>, AgentError> {
    let entries = std::fs::read_dir(root).map_err(|e| {
        AgentError::invalid(format!(
            "cannot read the templates directory `{root}` ({e}); is it granted to the agent?"
        ))
    })?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| Path::new(root).join(name).join(SPEC_FILE).is_file())
        .collect();
    names.sort();
    Ok(names)
}

#[derive(Deserialize, Serialize)]
struct Cached {
    fingerprint: String,
    template: Template,
}

fn cached(root: &str, name: &str) -> Result<(Template, Cache), AgentError> {
    let dir = format!("{}/{name}", root.trim_end_matches('/'));
    let listing = list(&dir)?;
    let mut hasher = Sha256::new();
    for (path, len, modified) in &listing {
        hasher.update(format!("{path}\0{len}\0{modified}\n"));
    }
    let fingerprint = hex(&hasher.finalize());
    let key = format!("template/{dir}");
    if let Some(hit) = state::get_json::<Cached>(&key)?
        && hit.fingerprint == fingerprint
    {
        return Ok((hit.template, Cache::Hit));
    }
    let mut spec = None;
    let mut files = Vec::new();
    for (path, _, _) in &listing {
        let bytes = std::fs::read(format!("{dir}/{path}"))
            .map_err(|e| AgentError::invalid(format!("cannot read `{dir}/{path}`: {e}")))?;
        let text = String::from_utf8(bytes).map_err(|_| {
            AgentError::invalid(format!(
                "`{dir}/{path}` is not UTF-8 text; templates hold text files only"
            ))
        })?;
        if path == SPEC_FILE {
            spec = Some(parse_spec(name, &text)?);
        } else {
            files.push(File {
                path: path.clone(),
                text,
            });
        }
    }
    let template = Template {
        name: name.to_string(),
        source: root.to_string(),
        spec: spec.ok_or_else(|| AgentError::invalid(format!("`{dir}` has no {SPEC_FILE}")))?,
        files,
    };
    state::set_json(
        &key,
        &Cached {
            fingerprint,
            template: template.clone(),
        },
    )?;
    Ok((template, Cache::Miss))
}

/// The files under `dir` (relative path, size, modification time in ns), sorted, within the
/// bounds; symbolic links are not followed.
fn list(dir: &str) -> Result<Vec<(String, u64, u128)>, AgentError> {
    let mut out = Vec::new();
    let mut total = 0;
    let mut pending = vec![String::new()];
    while let Some(rel) = pending.pop() {
        let here = if rel.is_empty() {
            dir.to_string()
        } else {
            format!("{dir}/{rel}")
        };
        let entries = std::fs::read_dir(&here)
            .map_err(|e| AgentError::invalid(format!("cannot read `{here}`: {e}")))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| AgentError::invalid(format!("cannot read `{here}`: {e}")))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let meta = std::fs::symlink_metadata(format!("{dir}/{path}"))
                .map_err(|e| AgentError::invalid(format!("cannot read `{dir}/{path}`: {e}")))?;
            if meta.is_dir() {
                pending.push(path);
            } else if meta.is_file() {
                if meta.len() > MAX_FILE_BYTES {
                    return Err(AgentError::invalid(format!(
                        "`{dir}/{path}` is {} bytes; a template's file may have at most {MAX_FILE_BYTES}",
                        meta.len()
                    )));
                }
                total += meta.len();
                if out.len() == MAX_FILES || total > MAX_TOTAL_BYTES {
                    return Err(AgentError::invalid(format!(
                        "template `{dir}` is larger than {MAX_FILES} files or {MAX_TOTAL_BYTES} bytes"
                    )));
                }
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                out.push((path, meta.len(), modified));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The template `name`: the user's (from `user_dir`) before a built-in of the same name.
pub fn find(name: &str, user_dir: Option<&str>) -> Result<(Template, Option<Cache>), AgentError> {
    if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\', '\0']) {
        return Err(AgentError::invalid(format!(
            "`{name}` is not a template name (a directory name: no `/`, no leading `.`)"
        )));
    }
    let mut known = Vec::new();
    if let Some(root) = user_dir {
        // Only the template asked for is read: another one of the user's that is broken does not
        // stand in the way.
        if Path::new(root).join(name).join(SPEC_FILE).is_file() {
            let (template, cache) = cached(root, name)?;
            return Ok((template, Some(cache)));
        }
        known.extend(user_names(root)?);
    }
    for template in built_in()? {
        if template.name == name {
            return Ok((template, None));
        }
        known.push(template.name);
    }
    Err(AgentError::invalid(format!(
        "no template `{name}`; there are: {}",
        known.join(", ")
    )))
}
