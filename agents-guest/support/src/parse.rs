//! The parsers the code agents share, each behind a feature: Python (`rustpython-parser`, with the
//! names imports bind, so `sp.run` reads as `subprocess.run` after `import subprocess as sp`),
//! JavaScript/TypeScript (`oxc`), Rust (`syn`). A file that does not parse is an error that names
//! the language and the line and column of the parser's complaint.

#[cfg(feature = "python")]
pub use python::{Imports, python};

#[cfg(feature = "python")]
mod python {
    use std::collections::HashMap;

    use rustpython_parser::ast::{self, Expr};

    use crate::LineIndex;

    /// Parses a Python module.
    pub fn python(file: &str, text: &str) -> Result<ast::ModModule, String> {
        let parsed = rustpython_parser::parse(text, rustpython_parser::Mode::Module, file)
            .map_err(|e| {
                let (line, column) = LineIndex::new(text).position(usize::from(e.offset));
                format!("Python does not parse at {line}:{column}: {}", e.error)
            })?;
        match parsed {
            ast::Mod::Module(module) => Ok(module),
            _ => Err("not a Python module".into()),
        }
    }

    /// The names imports bind in a module: local name -> qualified name.
    #[derive(Default, Debug)]
    pub struct Imports(HashMap<String, String>);

    impl Imports {
        /// `import a.b` binds `a`; `import a.b as c` binds `c` to `a.b`.
        pub fn import(&mut self, stmt: &ast::StmtImport) {
            for alias in &stmt.names {
                let full = alias.name.to_string();
                match &alias.asname {
                    Some(local) => self.0.insert(local.to_string(), full),
                    None => {
                        let first = full.split('.').next().unwrap_or("").to_string();
                        self.0.insert(first.clone(), first)
                    }
                };
            }
        }

        /// `from a import b as c` binds `c` to `a.b`.
        pub fn import_from(&mut self, stmt: &ast::StmtImportFrom) {
            let module = stmt
                .module
                .as_ref()
                .map_or(String::new(), |m| m.to_string());
            for alias in &stmt.names {
                let local = alias.asname.as_ref().unwrap_or(&alias.name).to_string();
                self.0.insert(local, format!("{module}.{}", alias.name));
            }
        }

        /// The qualified name of a name or attribute chain.
        pub fn qualified(&self, expr: &Expr) -> Option<String> {
            match expr {
                Expr::Name(n) => Some(
                    self.0
                        .get(n.id.as_str())
                        .cloned()
                        .unwrap_or_else(|| n.id.to_string()),
                ),
                Expr::Attribute(a) => Some(format!("{}.{}", self.qualified(&a.value)?, a.attr)),
                _ => None,
            }
        }
    }
}

/// Parses JavaScript or TypeScript (by the file's extension) into `allocator`.
#[cfg(feature = "javascript")]
pub fn javascript<'a>(
    allocator: &'a oxc_allocator::Allocator,
    file: &str,
    text: &'a str,
) -> Result<oxc_ast::ast::Program<'a>, String> {
    let source_type = oxc_span::SourceType::from_path(file).unwrap_or_default();
    let parsed = oxc_parser::Parser::new(allocator, text, source_type).parse();
    if let Some(error) = parsed.diagnostics.errors().next() {
        let offset = error.labels.first().map_or(0, |l| l.offset() as usize);
        let (line, column) = crate::LineIndex::new(text).position(offset);
        return Err(format!(
            "JavaScript/TypeScript does not parse at {line}:{column}: {}",
            error.message
        ));
    }
    Ok(parsed.program)
}

/// Parses a Rust file.
#[cfg(feature = "rust")]
pub fn rust(text: &str) -> Result<syn::File, String> {
    syn::parse_file(text).map_err(|e| {
        let start = e.span().start();
        format!(
            "Rust does not parse at {}:{}: {e}",
            start.line,
            start.column + 1
        )
    })
}
