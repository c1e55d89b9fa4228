//! Rust: parsed with `syn` (positions from proc-macro2's span locations). Outside test code
//! (`#[test]`, `#[cfg(test)]`, files under `tests/` or `benches/`), reports what clippy's restriction
//! lints `unwrap_used`, `dbg_macro` and `todo`/`unimplemented` would: `rust-unwrap`, `rust-dbg`,
//! `rust-todo`. Arguments of format-like macros (`println!`, `format!`, `assert!`, ...) are parsed
//! as expressions and checked too.

use guest_support::{Finding, Severity};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit::{self, Visit};

/// Lints one Rust file: a syntax error, or the findings.
pub fn lint(file: &str, text: &str) -> Vec<Finding> {
    let syntax = match syn::parse_file(text) {
        Ok(syntax) => syntax,
        Err(e) => {
            let start = e.span().start();
            return vec![Finding::new(
                file,
                start.line.max(1),
                start.column + 1,
                "syntax-error",
                Severity::Error,
                format!("Rust does not parse: {e}"),
            )];
        }
    };
    let normalized = file.replace('\\', "/");
    if normalized.starts_with("tests/")
        || normalized.contains("/tests/")
        || normalized.starts_with("benches/")
        || normalized.contains("/benches/")
    {
        return Vec::new();
    }
    let mut visitor = Visitor {
        file,
        findings: Vec::new(),
    };
    visitor.visit_file(&syntax);
    visitor.findings
}

struct Visitor<'f> {
    file: &'f str,
    findings: Vec<Finding>,
}

fn is_test_code(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        let path = attr.path();
        if path.is_ident("test") || path.segments.last().is_some_and(|s| s.ident == "test") {
            return true;
        }
        path.is_ident("cfg")
            && attr
                .parse_args::<syn::Meta>()
                .is_ok_and(|meta| meta.path().is_ident("test"))
    })
}

impl Visitor<'_> {
    fn report(&mut self, span: proc_macro2::Span, rule: &str, message: String) {
        let start = span.start();
        self.findings.push(Finding::new(
            self.file,
            start.line,
            start.column + 1,
            rule,
            Severity::Warning,
            message,
        ));
    }

    fn macro_call(&mut self, mac: &syn::Macro) {
        let name = mac
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        match name.as_str() {
            "dbg" => self.report(
                mac.path.span(),
                "rust-dbg",
                "`dbg!` left in non-test code".into(),
            ),
            "todo" | "unimplemented" => self.report(
                mac.path.span(),
                "rust-todo",
                format!("`{name}!` panics when reached: finish the code or return an error"),
            ),
            _ => {}
        }
        // Format-like macros: their arguments are expressions; check them like any other code.
        if let Ok(args) =
            mac.parse_body_with(Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated)
        {
            for arg in &args {
                self.visit_expr(arg);
            }
        }
    }
}

impl<'ast> Visit<'ast> for Visitor<'_> {
    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        if !is_test_code(&item.attrs) {
            visit::visit_item_fn(self, item);
        }
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        if !is_test_code(&item.attrs) {
            visit::visit_item_mod(self, item);
        }
    }

    fn visit_item_impl(&mut self, item: &'ast syn::ItemImpl) {
        if !is_test_code(&item.attrs) {
            visit::visit_item_impl(self, item);
        }
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        if !is_test_code(&item.attrs) {
            visit::visit_impl_item_fn(self, item);
        }
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        if call.method == "unwrap" && call.args.is_empty() {
            self.report(
                call.method.span(),
                "rust-unwrap",
                "`unwrap()` panics on None/Err: handle the case or use `expect` with a reason"
                    .into(),
            );
        }
        visit::visit_expr_method_call(self, call);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.macro_call(mac);
        visit::visit_macro(self, mac);
    }
}

/// The rules of this language.
pub const RULES: &[(&str, &str)] = &[
    (
        "rust-unwrap",
        "`.unwrap()` in non-test code (clippy::unwrap_used)",
    ),
    ("rust-dbg", "`dbg!` in non-test code (clippy::dbg_macro)"),
    (
        "rust-todo",
        "`todo!`/`unimplemented!` in non-test code (clippy::todo, clippy::unimplemented)",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Vec<(usize, usize, String)> {
        lint("src/lib.rs", text)
            .into_iter()
            .map(|f| (f.line, f.column, f.rule))
            .collect()
    }

    #[test]
    fn reports_outside_tests_only() {
        let text = "fn f(x: Option<u8>) -> u8 {\n    dbg!(x);\n    println!(\"{}\", x.unwrap());\n    todo!()\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn t() { Some(1).unwrap(); }\n}\n";
        assert_eq!(
            rules(text),
            [
                (2, 5, "rust-dbg".to_string()),
                (3, 22, "rust-unwrap".to_string()),
                (4, 5, "rust-todo".to_string()),
            ]
        );
    }

    #[test]
    fn syntax_errors_have_the_parser_position() {
        assert_eq!(
            rules("fn main() {\n    let = 1;\n}\n"),
            [(2, 9, "syntax-error".to_string())]
        );
    }
}
