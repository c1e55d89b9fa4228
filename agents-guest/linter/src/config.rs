//! Rule settings: given per run (`config` in the input) and read from the tree (`tandem-lint.toml`,
//! or the line length in `pyproject.toml`'s `[tool.pycodestyle]` / `[tool.ruff]`), the run's keys
//! winning. Which rules report: every rule except the ones pycodestyle leaves off by default, minus
//! `ignore`, plus `select`; both take codes or prefixes (`E2`, `W`, `yaml-`), the longest match
//! deciding, as in pycodestyle and flake8.

use guest_support::Severity;
use regex::{Regex, RegexBuilder};
use schemars::JsonSchema;
use serde::Deserialize;

/// The settings, all optional.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Longest line: Python's default is pycodestyle's 79, other files' 100.
    pub max_line_length: Option<usize>,
    /// Python's indent size (default 4).
    pub indent_size: Option<usize>,
    /// Text rules: when true, indenting with tabs alone is fine.
    pub allow_tabs: Option<bool>,
    /// Text rules: words reported by `todo-marker` (default TODO, FIXME).
    pub markers: Option<Vec<String>>,
    /// Codes or prefixes to turn on (also the ones off by default, such as E226).
    #[serde(default)]
    pub select: Vec<String>,
    /// Codes or prefixes to turn off.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// Rules of your own: a regex per line.
    #[serde(default)]
    pub custom: Vec<CustomRule>,
}

/// A rule of the user's: lines matching `pattern` are reported with `code` and `message`.
#[derive(Deserialize, JsonSchema, Debug, Clone)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CustomRule {
    pub code: String,
    pub pattern: String,
    pub message: String,
    #[serde(default = "warning")]
    pub severity: Severity,
    /// File extensions it applies to (without the dot); all files when absent.
    pub extensions: Option<Vec<String>>,
}

fn warning() -> Severity {
    Severity::Warning
}

/// A custom rule with its regex compiled.
pub struct CompiledRule {
    pub rule: CustomRule,
    pub regex: Regex,
}

/// The largest compiled custom regex (the `regex` crate's size limit): a pattern past it is refused.
const MAX_REGEX_BYTES: usize = 1 << 20;

impl Config {
    pub fn python_line_length(&self) -> usize {
        self.max_line_length.unwrap_or(79)
    }

    pub fn text_line_length(&self) -> usize {
        self.max_line_length.unwrap_or(100)
    }

    pub fn indent_size(&self) -> usize {
        self.indent_size.unwrap_or(4)
    }

    pub fn allow_tabs(&self) -> bool {
        self.allow_tabs.unwrap_or(false)
    }

    pub fn markers(&self) -> Vec<String> {
        self.markers
            .clone()
            .unwrap_or_else(|| vec!["TODO".into(), "FIXME".into()])
    }

    /// This config with `base`'s values where this one has none.
    pub fn over(self, base: Config) -> Config {
        Config {
            max_line_length: self.max_line_length.or(base.max_line_length),
            indent_size: self.indent_size.or(base.indent_size),
            allow_tabs: self.allow_tabs.or(base.allow_tabs),
            markers: self.markers.or(base.markers),
            select: [base.select, self.select].concat(),
            ignore: [base.ignore, self.ignore].concat(),
            custom: [base.custom, self.custom].concat(),
        }
    }

    /// Checks every value, naming the key of the first bad one, and compiles the custom rules.
    pub fn validate(&self, known: &dyn Fn(&str) -> bool) -> Result<Vec<CompiledRule>, String> {
        if self.max_line_length == Some(0) {
            return Err("`config.max-line-length` must be at least 1".into());
        }
        if matches!(self.indent_size, Some(0) | Some(17..)) {
            return Err("`config.indent-size` must be 1 to 16".into());
        }
        if let Some(bad) = self
            .markers()
            .iter()
            .find(|m| m.is_empty() || m.chars().any(char::is_whitespace))
        {
            return Err(format!("`config.markers`: {bad:?} is not a single word"));
        }
        let custom_codes: Vec<&str> = self.custom.iter().map(|r| r.code.as_str()).collect();
        for (key, codes) in [("select", &self.select), ("ignore", &self.ignore)] {
            for code in codes {
                if code.is_empty()
                    || !(known(code) || custom_codes.iter().any(|c| c.starts_with(code.as_str())))
                {
                    return Err(format!(
                        "`config.{key}`: no rule is named or starts with {code:?} (the `rules` operation lists them)"
                    ));
                }
            }
        }
        self.custom
            .iter()
            .map(|rule| {
                if rule.code.is_empty() || rule.code.chars().any(char::is_whitespace) {
                    return Err(format!(
                        "`config.custom`: code {:?} must be one word",
                        rule.code
                    ));
                }
                let regex = RegexBuilder::new(&rule.pattern)
                    .size_limit(MAX_REGEX_BYTES)
                    .build()
                    .map_err(|e| {
                        format!("`config.custom` rule `{}`: invalid regex: {e}", rule.code)
                    })?;
                Ok(CompiledRule {
                    rule: rule.clone(),
                    regex,
                })
            })
            .collect()
    }

    /// Whether findings with `code` are reported.
    pub fn enabled(&self, code: &str) -> bool {
        let longest = |list: &[String]| {
            list.iter()
                .filter(|p| code.starts_with(p.as_str()))
                .map(|p| p.len())
                .max()
        };
        match (longest(&self.select), longest(&self.ignore)) {
            (Some(s), Some(i)) => s >= i,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => !crate::python::DEFAULT_OFF
                .iter()
                .any(|p| code.starts_with(p)),
        }
    }
}

/// The config a tree carries: `tandem-lint.toml` at one of the directories, or else the line length
/// of `pyproject.toml`. Errors name the file.
pub fn from_tree(dirs: &[String]) -> Result<Config, String> {
    for dir in dirs {
        let path = format!("{}/tandem-lint.toml", dir.trim_end_matches('/'));
        if let Ok(text) = std::fs::read_to_string(&path) {
            return toml::from_str(&text).map_err(|e| format!("`{path}`: {}", e.message()));
        }
    }
    for dir in dirs {
        let path = format!("{}/pyproject.toml", dir.trim_end_matches('/'));
        if let Ok(text) = std::fs::read_to_string(&path) {
            return Ok(from_pyproject(&text));
        }
    }
    Ok(Config::default())
}

/// `[tool.pycodestyle] max-line-length` (or `max_line_length`), else `[tool.ruff] line-length`.
/// A pyproject.toml that does not parse is the Python linter's business, not ours: no config.
fn from_pyproject(text: &str) -> Config {
    let Ok(value) = text.parse::<toml::Table>() else {
        return Config::default();
    };
    let tool = value.get("tool");
    let get = |section: &str, keys: &[&str]| {
        let table = tool?.get(section)?;
        keys.iter()
            .find_map(|k| table.get(*k)?.as_integer())
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0)
    };
    Config {
        max_line_length: get("pycodestyle", &["max-line-length", "max_line_length"])
            .or_else(|| get("ruff", &["line-length"])),
        ..Config::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_decides_and_defaults_follow_pycodestyle() {
        let config = Config {
            ignore: vec!["E2".into()],
            select: vec!["E226".into()],
            ..Config::default()
        };
        assert!(!config.enabled("E225"));
        assert!(config.enabled("E226"));
        assert!(config.enabled("E501"));
        assert!(!Config::default().enabled("E226"));
        assert!(!Config::default().enabled("E704"));
    }

    #[test]
    fn pyproject_line_length_is_honoured() {
        assert_eq!(
            from_pyproject("[tool.ruff]\nline-length = 88\n").max_line_length,
            Some(88)
        );
        assert_eq!(
            from_pyproject(
                "[tool.pycodestyle]\nmax_line_length = 120\n[tool.ruff]\nline-length = 88\n"
            )
            .max_line_length,
            Some(120)
        );
        assert_eq!(from_pyproject("not toml [").max_line_length, None);
    }
}
