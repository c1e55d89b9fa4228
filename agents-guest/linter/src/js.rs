//! JavaScript and TypeScript: parsed with oxc (the dialect from the extension: `.js`, `.mjs`,
//! `.cjs`, `.jsx`, `.ts`, `.mts`, `.cts`, `.tsx`). Reports three of ESLint's recommended rules with
//! ESLint's names: `no-debugger`, `no-dupe-keys` (a key given twice in one object literal; a getter
//! and setter pair is fine) and `no-empty` (an empty block that holds no comment either).

use std::collections::HashMap;

use guest_support::{Finding, LineIndex, Severity};
use oxc_allocator::Allocator;
use oxc_ast::ast::{
    BlockStatement, DebuggerStatement, ObjectExpression, ObjectPropertyKind, PropertyKind,
};
use oxc_ast_visit::{Visit, walk};
use oxc_parser::Parser;
use oxc_span::SourceType;

/// Lints one JavaScript/TypeScript file.
pub fn lint(file: &str, text: &str) -> Vec<Finding> {
    let index = LineIndex::new(text);
    let source_type = SourceType::from_path(file).unwrap_or_default();
    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, text, source_type).parse();
    if let Some(error) = parsed.diagnostics.errors().next() {
        let offset = error.labels.first().map_or(0, |l| l.offset() as usize);
        let (line, column) = index.position(offset);
        return vec![Finding::new(
            file,
            line,
            column,
            "syntax-error",
            Severity::Error,
            format!("JavaScript/TypeScript does not parse: {}", error.message),
        )];
    }
    let mut visitor = Visitor {
        file,
        text,
        index: &index,
        findings: Vec::new(),
    };
    visitor.visit_program(&parsed.program);
    visitor.findings
}

struct Visitor<'x> {
    file: &'x str,
    text: &'x str,
    index: &'x LineIndex<'x>,
    findings: Vec<Finding>,
}

impl Visitor<'_> {
    fn report(&mut self, offset: u32, rule: &str, severity: Severity, message: String) {
        let (line, column) = self.index.position(offset as usize);
        self.findings.push(Finding::new(
            self.file, line, column, rule, severity, message,
        ));
    }
}

impl<'a> Visit<'a> for Visitor<'_> {
    fn visit_debugger_statement(&mut self, it: &DebuggerStatement) {
        self.report(
            it.span.start,
            "no-debugger",
            Severity::Error,
            "unexpected 'debugger' statement".into(),
        );
    }

    fn visit_object_expression(&mut self, it: &ObjectExpression<'a>) {
        // key -> (init seen, get seen, set seen)
        let mut seen: HashMap<String, (bool, bool, bool)> = HashMap::new();
        for property in &it.properties {
            let ObjectPropertyKind::ObjectProperty(p) = property else {
                continue;
            };
            if p.computed {
                continue;
            }
            let Some(name) = p.key.static_name() else {
                continue;
            };
            let entry = seen.entry(name.to_string()).or_default();
            let duplicate = match p.kind {
                PropertyKind::Init => entry.0 || entry.1 || entry.2,
                PropertyKind::Get => entry.0 || entry.1,
                PropertyKind::Set => entry.0 || entry.2,
            };
            match p.kind {
                PropertyKind::Init => entry.0 = true,
                PropertyKind::Get => entry.1 = true,
                PropertyKind::Set => entry.2 = true,
            }
            if duplicate {
                self.report(
                    p.key_span_start(),
                    "no-dupe-keys",
                    Severity::Error,
                    format!("duplicate key '{name}'"),
                );
            }
        }
        walk::walk_object_expression(self, it);
    }

    fn visit_block_statement(&mut self, it: &BlockStatement<'a>) {
        let inner = self
            .text
            .get(it.span.start as usize + 1..(it.span.end as usize).saturating_sub(1))
            .unwrap_or("");
        if it.body.is_empty() && !inner.contains("//") && !inner.contains("/*") {
            self.report(
                it.span.start,
                "no-empty",
                Severity::Warning,
                "empty block statement".into(),
            );
        }
        walk::walk_block_statement(self, it);
    }
}

trait KeyStart {
    fn key_span_start(&self) -> u32;
}

impl KeyStart for oxc_ast::ast::ObjectProperty<'_> {
    fn key_span_start(&self) -> u32 {
        use oxc_span::GetSpan;
        self.key.span().start
    }
}

/// The rules of this language.
pub const RULES: &[(&str, &str)] = &[
    ("no-debugger", "a `debugger` statement (ESLint no-debugger)"),
    (
        "no-dupe-keys",
        "a key given twice in one object literal (ESLint no-dupe-keys)",
    ),
    (
        "no-empty",
        "an empty block statement without a comment (ESLint no-empty)",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(file: &str, text: &str) -> Vec<(usize, usize, String)> {
        lint(file, text)
            .into_iter()
            .map(|f| (f.line, f.column, f.rule))
            .collect()
    }

    #[test]
    fn reports_debugger_duplicate_keys_and_empty_blocks() {
        let text = "const o = { a: 1, get b() { return 1 }, set b(v) {}, a: 2 };\nif (o) {}\ntry { f() } catch (e) { /* ignored */ }\ndebugger;\n";
        assert_eq!(
            rules("x.js", text),
            [
                (1, 54, "no-dupe-keys".into()),
                (2, 8, "no-empty".into()),
                (4, 1, "no-debugger".into())
            ]
        );
    }

    #[test]
    fn typescript_by_extension_and_syntax_errors() {
        assert!(rules("x.ts", "let x: number = 1;\n").is_empty());
        assert_eq!(rules("x.js", "let x: number = 1;\n")[0].2, "syntax-error");
        assert_eq!(rules("x.js", "function (\n")[0].2, "syntax-error");
    }
}
