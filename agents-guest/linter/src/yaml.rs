//! YAML, through yaml-rust2's event parser (every document of a stream). Reports what yamllint's
//! default config would for three of its rules: `yaml-duplicate-key` (key-duplicates),
//! `yaml-truthy` (truthy: a plain `yes`, `no`, `on`, `off`, `True`, ... that YAML 1.1 tools read as
//! a boolean; only `true` and `false` are allowed, keys included) and `yaml-indentation`
//! (indentation: block mappings nested with a step other than the document's first one).

use guest_support::{Finding, Severity};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

const TRUTHY: &[&str] = &[
    "yes", "Yes", "YES", "no", "No", "NO", "True", "TRUE", "False", "FALSE", "on", "On", "ON",
    "off", "Off", "OFF",
];

/// Lints one YAML file.
pub fn lint(file: &str, text: &str) -> Vec<Finding> {
    let mut receiver = Receiver {
        file,
        text: text.chars().collect(),
        stack: Vec::new(),
        step: None,
        findings: Vec::new(),
    };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut receiver, true) {
        let marker = e.marker();
        return vec![Finding::new(
            file,
            marker.line().max(1),
            marker.col() + 1,
            "syntax-error",
            Severity::Error,
            format!("YAML does not parse: {}", e.info()),
        )];
    }
    receiver.findings
}

enum Node {
    /// A mapping: its keys so far, whether the next node is a key, whether it is a block mapping,
    /// and the column of its first key (known once that key is seen).
    Mapping {
        keys: Vec<String>,
        expect_key: bool,
        block: bool,
        column: Option<usize>,
    },
    Sequence,
}

struct Receiver<'f> {
    file: &'f str,
    text: Vec<char>,
    stack: Vec<Node>,
    step: Option<usize>,
    findings: Vec<Finding>,
}

impl Receiver<'_> {
    fn report(&mut self, mark: &Marker, rule: &str, severity: Severity, message: String) {
        self.findings.push(Finding::new(
            self.file,
            mark.line(),
            mark.col() + 1,
            rule,
            severity,
            message,
        ));
    }

    /// A node (scalar or collection) took its place in the parent: a key or a value.
    fn place(&mut self, key: Option<&str>, mark: &Marker) {
        self.check_indentation(mark);
        let Some(Node::Mapping {
            keys, expect_key, ..
        }) = self.stack.last_mut()
        else {
            return;
        };
        if *expect_key {
            if let Some(key) = key {
                if keys.iter().any(|k| k == key) {
                    let message = format!("duplication of key \"{key}\" in mapping");
                    *expect_key = false;
                    self.report(mark, "yaml-duplicate-key", Severity::Error, message);
                    return;
                }
                keys.push(key.to_string());
            }
            *expect_key = false;
        } else {
            *expect_key = true;
        }
    }
}

impl Receiver<'_> {
    /// At the first key of a block mapping nested in another: the step from the parent's keys
    /// must be the document's first step.
    fn check_indentation(&mut self, mark: &Marker) {
        let depth = self.stack.len();
        let Some(Node::Mapping {
            block: true,
            column: column @ None,
            expect_key: true,
            ..
        }) = self.stack.last_mut()
        else {
            return;
        };
        *column = Some(mark.col());
        let here = mark.col();
        let parent = self.stack[..depth - 1].iter().rev().find_map(|n| match n {
            Node::Mapping {
                block: true,
                column: Some(c),
                ..
            } => Some(*c),
            _ => None,
        });
        let Some(parent) = parent else { return };
        if !matches!(
            self.stack.get(depth.wrapping_sub(2)),
            Some(Node::Mapping { .. })
        ) {
            return; // a mapping inside a sequence item: yamllint measures those from the dash
        }
        let step = here.saturating_sub(parent);
        match self.step {
            None if step > 0 => self.step = Some(step),
            Some(expected) if step != expected && step > 0 => {
                let message = format!(
                    "wrong indentation: expected {} but found {}",
                    parent + expected,
                    here
                );
                self.report(mark, "yaml-indentation", Severity::Warning, message);
            }
            _ => {}
        }
    }
}

impl MarkedEventReceiver for Receiver<'_> {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::Scalar(value, style, _, _) => {
                if style == TScalarStyle::Plain && TRUTHY.contains(&value.as_str()) {
                    self.report(
                        &mark,
                        "yaml-truthy",
                        Severity::Warning,
                        "truthy value should be one of [false, true]".into(),
                    );
                }
                self.place(Some(&value), &mark);
            }
            Event::Alias(_) => self.place(None, &mark),
            Event::MappingStart(..) => {
                self.place(None, &mark);
                let block = self.text.get(mark.index()) != Some(&'{');
                self.stack.push(Node::Mapping {
                    keys: Vec::new(),
                    expect_key: true,
                    block,
                    column: None,
                });
            }
            Event::SequenceStart(..) => {
                self.place(None, &mark);
                self.stack.push(Node::Sequence);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            Event::DocumentStart => {
                self.stack.clear();
            }
            _ => {}
        }
    }
}

/// The rules of this language.
pub const RULES: &[(&str, &str)] = &[
    (
        "yaml-duplicate-key",
        "a key given twice in one mapping (yamllint key-duplicates)",
    ),
    (
        "yaml-truthy",
        "a plain yes/no/on/off/True... read as a boolean by YAML 1.1 (yamllint truthy)",
    ),
    (
        "yaml-indentation",
        "nested mappings indented inconsistently (yamllint indentation)",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Vec<(usize, usize, String)> {
        lint("x.yaml", text)
            .into_iter()
            .map(|f| (f.line, f.column, f.rule))
            .collect()
    }

    #[test]
    fn duplicates_truthy_and_indentation() {
        let text = "on:\n  push: yes\nname: x\nsteps:\n  - run: \"yes\"\n    with:\n        deep: true\nname: y\n";
        assert_eq!(
            rules(text),
            [
                (1, 1, "yaml-truthy".into()),
                (2, 9, "yaml-truthy".into()),
                (7, 9, "yaml-indentation".into()),
                (8, 1, "yaml-duplicate-key".into()),
            ]
        );
        assert_eq!(rules("a: [1\n")[0].2, "syntax-error");
        assert!(rules("a:\n  b: {x: 1, y: [1, 2]}\n").is_empty());
    }
}
