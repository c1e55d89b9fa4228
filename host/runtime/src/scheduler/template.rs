//! Templates in a node's input: a string value `"${id}"` or `"${id/pointer}"` stands for the output
//! (or the part at a JSON pointer) of dependency `id`. Checked when a plan is validated, filled in
//! when the node starts, into a buffer bounded as it is written.

use std::collections::HashMap;

use serde_json::Value;

use super::{Node, PlanError};

/// The `${id}` or `${id/pointer}` reference in a string value, if it is one.
fn template(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix("${")?.strip_suffix('}')?;
    Some(match inner.find('/') {
        Some(slash) => (&inner[..slash], &inner[slash..]),
        None => (inner, ""),
    })
}

/// Checks that every template in `value` refers to a dependency; true when there is at least one.
pub(super) fn check_templates(node: &Node, value: &Value) -> Result<bool, PlanError> {
    match value {
        Value::String(text) => match template(text) {
            Some((id, _)) if !node.depends_on.iter().any(|d| d == id) => Err(PlanError(format!(
                "node `{}`: its input refers to `{id}`, which is not among its depends-on",
                node.id
            ))),
            Some(_) => Ok(true),
            None => Ok(false),
        },
        Value::Array(items) => items
            .iter()
            .try_fold(false, |any, v| Ok(check_templates(node, v)? || any)),
        Value::Object(map) => map
            .values()
            .try_fold(false, |any, v| Ok(check_templates(node, v)? || any)),
        _ => Ok(false),
    }
}

/// Writes `value` as JSON text into `out` with its templates replaced by the outputs of finished
/// dependencies. The text is bounded as it is written: past `out`'s limit the rendering stops, so a
/// plan that refers to a large output many times costs at most the limit, never its product.
pub(super) fn render(
    value: &Value,
    outputs: &HashMap<&str, &Value>,
    node: &str,
    out: &mut Bounded,
) -> Result<(), String> {
    let write = |out: &mut Bounded, value: &Value| {
        serde_json::to_writer(&mut *out, value).map_err(|_| out.overflow(node))
    };
    match value {
        Value::String(text) => match template(text) {
            Some((id, pointer)) => {
                let output = outputs
                    .get(id)
                    .ok_or_else(|| format!("node `{node}`: no output from `{id}`"))?;
                let part = output.pointer(pointer).ok_or_else(|| {
                    format!("node `{node}`: the output of `{id}` has nothing at `{pointer}`")
                })?;
                write(out, part)
            }
            None => write(out, value),
        },
        Value::Array(items) => {
            out.push(b"[", node)?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b",", node)?;
                }
                render(item, outputs, node, out)?;
            }
            out.push(b"]", node)
        }
        Value::Object(map) => {
            out.push(b"{", node)?;
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b",", node)?;
                }
                serde_json::to_writer(&mut *out, key).map_err(|_| out.overflow(node))?;
                out.push(b":", node)?;
                render(item, outputs, node, out)?;
            }
            out.push(b"}", node)
        }
        other => write(out, other),
    }
}

/// A buffer that refuses to grow past its limit.
pub(super) struct Bounded {
    text: Vec<u8>,
    limit: usize,
    /// Who set the limit, for the message.
    whose: String,
}

impl Bounded {
    /// An empty buffer of at most `limit` bytes, a limit set by `whose` (named in the error).
    pub(super) fn new(limit: usize, whose: String) -> Bounded {
        Bounded {
            text: Vec::new(),
            limit,
            whose,
        }
    }

    /// The text written: JSON written by serde_json, so UTF-8.
    pub(super) fn into_text(self) -> String {
        String::from_utf8(self.text).unwrap_or_default()
    }

    fn push(&mut self, bytes: &[u8], node: &str) -> Result<(), String> {
        std::io::Write::write_all(self, bytes).map_err(|_| self.overflow(node))
    }

    fn overflow(&self, node: &str) -> String {
        format!(
            "node `{node}`: its input, with the templates filled in, is over {} bytes ({})",
            self.limit, self.whose
        )
    }
}

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.text.len() + buf.len() > self.limit {
            return Err(std::io::Error::other("over the limit"));
        }
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
