//! Python: `requirements*.txt` (pip's format: `name[extras] specifiers ; markers`, continuation
//! lines, comments and `--hash` options; `-r`/`-c`/`-e`, URLs and other options left out) and
//! `poetry.lock`. A requirement pinned with `==` (no wildcard) or `===` has a version; any other
//! is kept with what it allows, its specifiers checked by PEP 440's grammar (`pep440_rs`).

use std::str::FromStr;

use serde::Deserialize;

use super::{LockError, Package, TomlLock, line_of, toml_error, toml_package};
use crate::ecosystem::Ecosystem;

pub fn requirements(file: &str, text: &str) -> Result<Vec<Package>, LockError> {
    let mut found = Vec::new();
    let mut logical = String::new();
    let mut start = 0;
    for (index, raw) in text.lines().enumerate() {
        if logical.is_empty() {
            start = index + 1;
        }
        // A comment starts at `#` at the line's start or after whitespace.
        let line = match raw.find(" #").or_else(|| raw.starts_with('#').then_some(0)) {
            Some(at) => &raw[..at],
            None => raw,
        };
        if let Some(head) = line.trim_end().strip_suffix('\\') {
            logical.push_str(head);
            logical.push(' ');
            continue;
        }
        logical.push_str(line);
        let requirement = std::mem::take(&mut logical);
        if let Some(package) = requirement_line(file, start, requirement.trim())? {
            found.push(package);
        }
    }
    Ok(found)
}

fn requirement_line(file: &str, line: usize, text: &str) -> Result<Option<Package>, LockError> {
    if text.is_empty() || text.starts_with('-') || text.contains("://") || text.starts_with('.') {
        return Ok(None);
    }
    // Options after the requirement (`--hash=...`) and environment markers are not versions.
    let text = text.split(" --").next().unwrap_or(text);
    let text = text.split(';').next().unwrap_or(text).trim();
    let name_end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(text.len());
    let name = &text[..name_end];
    if name.is_empty() {
        return Err(LockError::new(
            file,
            line,
            format!("`{text}`: a requirement starts with a package name"),
        ));
    }
    let mut rest = text[name_end..].trim_start();
    if let Some(extras) = rest.strip_prefix('[') {
        let Some(close) = extras.find(']') else {
            return Err(LockError::new(
                file,
                line,
                format!("`{text}`: `[` without `]`"),
            ));
        };
        rest = extras[close + 1..].trim_start();
    }
    if rest.starts_with('@') {
        return Ok(None); // a direct reference (`name @ url`): no version to match
    }
    let specifiers = rest.trim().trim_start_matches('(').trim_end_matches(')');
    let parsed = pep440_rs::VersionSpecifiers::from_str(specifiers)
        .map_err(|e| LockError::new(file, line, format!("`{text}`: {e}")))?;
    let pinned = match parsed.iter().collect::<Vec<_>>()[..] {
        [one]
            if matches!(
                one.operator(),
                pep440_rs::Operator::Equal | pep440_rs::Operator::ExactEqual
            ) =>
        {
            Some(one.version().to_string())
        }
        _ => None,
    };
    Ok(Some(Package {
        ecosystem: Ecosystem::PyPi,
        name: name.to_string(),
        allows: pinned.is_none().then(|| specifiers.to_string()),
        version: pinned,
        file: file.to_string(),
        line,
    }))
}

/// Where a locked package comes from: Poetry's `type` (`git`, `directory`, ... or `legacy` for
/// an index), uv's `registry` (an index) or `git`/`path`/`editable`/`virtual`.
#[derive(Deserialize)]
struct Source {
    #[serde(rename = "type")]
    kind: Option<String>,
    registry: Option<String>,
}

impl Source {
    fn is_an_index(&self) -> bool {
        match (&self.kind, &self.registry) {
            (_, Some(_)) => true,
            (Some(kind), None) => kind == "legacy",
            (None, None) => false,
        }
    }
}

pub fn poetry_lock(file: &str, text: &str) -> Result<Vec<Package>, LockError> {
    let lock: TomlLock<Source> = toml::from_str(text).map_err(|e| toml_error(file, text, &e))?;
    Ok(lock
        .package
        .into_iter()
        .filter(|p| p.source.as_ref().is_none_or(Source::is_an_index))
        .map(|p| toml_package(Ecosystem::PyPi, file, text, p.name, p.version))
        .collect())
}

/// `pyproject.toml`'s dependencies as requirements: PEP 621 strings (`project.dependencies`,
/// `project.optional-dependencies`) and Poetry's table (`"^2.0"` is not PEP 440: such entries are
/// kept as requirements that allow any version, so advisories on the package still show).
pub fn pyproject(file: &str, text: &str) -> Result<Vec<Package>, LockError> {
    let doc: toml::Value = toml::from_str(text).map_err(|e| toml_error(file, text, &e))?;
    let mut specs: Vec<String> = Vec::new();
    if let Some(project) = doc.get("project") {
        let lists = project.get("dependencies").into_iter().chain(
            project
                .get("optional-dependencies")
                .and_then(|o| o.as_table())
                .into_iter()
                .flat_map(|t| t.values()),
        );
        for list in lists {
            specs.extend(
                list.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_string)),
            );
        }
    }
    if let Some(table) = doc
        .get("tool")
        .and_then(|t| t.get("poetry"))
        .and_then(|p| p.get("dependencies"))
        .and_then(|d| d.as_table())
    {
        for (name, value) in table.iter().filter(|(name, _)| name.as_str() != "python") {
            let version = value
                .as_str()
                .or_else(|| value.get("version").and_then(|v| v.as_str()));
            let pep440 = version
                .filter(|v| pep440_rs::VersionSpecifiers::from_str(v).is_ok())
                .unwrap_or("");
            specs.push(format!("{name}{pep440}"));
        }
    }
    let mut found = Vec::new();
    for spec in specs {
        let line = text
            .find(&format!("\"{spec}"))
            .or_else(|| {
                text.find(
                    spec.split(|c: char| {
                        !c.is_ascii_alphanumeric() && c != '-' && c != '_' && c != '.'
                    })
                    .next()
                    .unwrap_or(&spec),
                )
            })
            .map(|at| line_of(text, at))
            .unwrap_or(1);
        if let Some(package) = requirement_line(file, line, spec.trim())? {
            found.push(package);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Name, version, what it allows, line.
    fn rows(found: &[Package]) -> Vec<(&str, Option<&str>, Option<&str>, usize)> {
        found
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.version.as_deref(),
                    p.allows.as_deref(),
                    p.line,
                )
            })
            .collect()
    }

    #[test]
    fn pinned_unpinned_and_skipped_requirements() {
        let text = "# deps\nrequests==2.25.1 \\\n    --hash=sha256:abc\nPyYAML[extra] == 5.3.1 ; python_version < '3.10'\nflask>=1.0,<3  # web\n-r other.txt\n-e git+https://x/y#egg=z\npip @ https://x/pip.whl\njinja2==3.*\nrich\n";
        let found = requirements("requirements.txt", text).unwrap();
        assert_eq!(
            rows(&found),
            [
                ("requests", Some("2.25.1"), None, 2),
                ("PyYAML", Some("5.3.1"), None, 4),
                ("flask", None, Some(">=1.0,<3"), 5),
                ("jinja2", None, Some("==3.*"), 9),
                ("rich", None, Some(""), 10),
            ]
        );
        let err = requirements("requirements.txt", "ok==1\nbad=>2\n").unwrap_err();
        assert_eq!(err.line, 2, "{err:?}");
    }

    #[test]
    fn pyproject_dependencies_are_requirements() {
        let text = "[project]\nname = \"app\"\ndependencies = [\n  \"requests==2.25.1\",\n  \"PyYAML>=5.1\",\n]\n[project.optional-dependencies]\ndev = [\"pytest\"]\n[tool.poetry.dependencies]\npython = \"^3.11\"\nflask = \"^2.0\"\n";
        let found = pyproject("pyproject.toml", text).unwrap();
        assert_eq!(
            rows(&found),
            [
                ("requests", Some("2.25.1"), None, 4),
                ("PyYAML", None, Some(">=5.1"), 5),
                ("pytest", None, Some(""), 8),
                ("flask", None, Some(""), 11),
            ]
        );
    }

    #[test]
    fn uv_lock_keeps_index_packages() {
        let text = "version = 1\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\nsource = { editable = \".\" }\n\n[[package]]\nname = \"requests\"\nversion = \"2.31.0\"\nsource = { registry = \"https://pypi.org/simple\" }\n";
        let found = poetry_lock("uv.lock", text).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].name.as_str(), found[0].line), ("requests", 9));
    }

    #[test]
    fn poetry_packages_from_indexes() {
        let text = "[[package]]\nname = \"requests\"\nversion = \"2.30.0\"\n\n[[package]]\nname = \"mine\"\nversion = \"0.1\"\n[package.source]\ntype = \"directory\"\nurl = \"../mine\"\n";
        let found = poetry_lock("poetry.lock", text).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].line, 2);
    }
}
