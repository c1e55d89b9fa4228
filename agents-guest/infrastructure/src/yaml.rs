//! YAML read into a tree that remembers where each node starts (yaml-rust2's event parser; its own
//! tree forgets positions), every document of a stream; and YAML written from yaml-rust2's tree with
//! its emitter, which quotes whatever would read back as another type.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::{Yaml, YamlEmitter};

/// A node and the 1-based line it starts on.
#[derive(Debug, Clone)]
pub struct Node {
    pub line: usize,
    pub value: Value,
}

#[derive(Debug, Clone)]
pub enum Value {
    /// A scalar's text, and whether it was quoted (a quoted `8080` is a string, not a number).
    Scalar(String, bool),
    Sequence(Vec<Node>),
    /// Keys in order, each with the line of the key.
    Mapping(Vec<(String, usize, Node)>),
    /// An alias (`*name`): not followed.
    Alias,
}

impl Node {
    /// The value under `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Mapping(entries) => entries.iter().find(|(k, _, _)| k == key).map(|(_, _, n)| n),
            _ => None,
        }
    }

    /// The value at a path of keys.
    pub fn at(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |node, key| node.get(key))
    }

    /// A scalar's text.
    pub fn str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(text, _) => Some(text),
            _ => None,
        }
    }

    /// A plain (unquoted) scalar that YAML reads as `true`.
    pub fn is_true(&self) -> bool {
        matches!(&self.value, Value::Scalar(t, false) if t == "true" || t == "True" || t == "TRUE")
    }

    /// The items of a sequence (none for anything else).
    pub fn items(&self) -> &[Node] {
        match &self.value {
            Value::Sequence(items) => items,
            _ => &[],
        }
    }

    /// The entries of a mapping (none for anything else).
    pub fn entries(&self) -> &[(String, usize, Node)] {
        match &self.value {
            Value::Mapping(entries) => entries,
            _ => &[],
        }
    }

    /// A plain scalar that reads as an integer.
    pub fn int(&self) -> Option<i64> {
        match &self.value {
            Value::Scalar(t, false) => t.parse().ok(),
            _ => None,
        }
    }
}

/// A YAML syntax error: where, and what.
#[derive(Debug)]
pub struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Every document of `text`.
pub fn parse(text: &str) -> Result<Vec<Node>, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, true).map_err(|e| SyntaxError {
        line: e.marker().line().max(1),
        column: e.marker().col() + 1,
        message: e.info().to_string(),
    })?;
    Ok(builder.documents)
}

enum Open {
    Sequence(usize, Vec<Node>),
    Mapping(usize, Vec<(String, usize, Node)>, Option<(String, usize)>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    documents: Vec<Node>,
}

impl Builder {
    fn place(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.documents.push(node),
            Some(Open::Sequence(_, items)) => items.push(node),
            Some(Open::Mapping(_, entries, pending)) => match pending.take() {
                Some((key, line)) => entries.push((key, line, node)),
                None => {
                    // A key: a scalar's text; a complex key is kept as its line only.
                    let key = match &node.value {
                        Value::Scalar(text, _) => text.clone(),
                        _ => String::new(),
                    };
                    *pending = Some((key, node.line));
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let line = mark.line().max(1);
        match event {
            Event::Scalar(text, style, _, _) => {
                let quoted = !matches!(style, TScalarStyle::Plain);
                self.place(Node {
                    line,
                    value: Value::Scalar(text, quoted),
                });
            }
            Event::Alias(_) => self.place(Node {
                line,
                value: Value::Alias,
            }),
            Event::SequenceStart(..) => self.stack.push(Open::Sequence(line, Vec::new())),
            Event::MappingStart(..) => self.stack.push(Open::Mapping(line, Vec::new(), None)),
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match self.stack.pop() {
                    Some(Open::Sequence(line, items)) => Node {
                        line,
                        value: Value::Sequence(items),
                    },
                    Some(Open::Mapping(line, entries, _)) => Node {
                        line,
                        value: Value::Mapping(entries),
                    },
                    None => return,
                };
                self.place(node);
            }
            _ => {}
        }
    }
}

/// A mapping from `(key, value)` pairs, in order.
pub fn map<const N: usize>(entries: [(&str, Yaml); N]) -> Yaml {
    let mut hash = yaml_rust2::yaml::Hash::new();
    for (key, value) in entries {
        hash.insert(Yaml::String(key.to_string()), value);
    }
    Yaml::Hash(hash)
}

/// A string scalar.
pub fn s(text: impl Into<String>) -> Yaml {
    Yaml::String(text.into())
}

/// An integer scalar.
pub fn int(n: i64) -> Yaml {
    Yaml::Integer(n)
}

/// A sequence.
pub fn seq(items: impl IntoIterator<Item = Yaml>) -> Yaml {
    Yaml::Array(items.into_iter().collect())
}

/// Documents as one YAML stream, each starting with `---`.
pub fn emit(documents: &[Yaml]) -> String {
    let mut out = String::new();
    for document in documents {
        let mut emitter = YamlEmitter::new(&mut out);
        // A string holding a newline is written as a block literal, which stays readable.
        emitter.multiline_strings(true);
        // Writing to a String cannot fail.
        let _ = emitter.dump(document);
        out.push('\n');
    }
    out
}
