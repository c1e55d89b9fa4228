//! `scan-code`: dangerous patterns, on the parse tree where a parser exists. Python
//! (rustpython-parser; bandit's test ids in `bandit`): `eval`/`exec`, `subprocess` with
//! `shell=True`, `os.system`/`os.popen`, `pickle`/`marshal`/`shelve` loads, `yaml.load` without a
//! safe loader, `verify=False`, hard-coded temporary paths, SQL built by string formatting, MD5/SHA1.
//! JavaScript/TypeScript (oxc): `eval`, `new Function`, `exec`/`execSync` with a built command,
//! `innerHTML`/`outerHTML` assigned from a non-literal, `document.write`. Shell scripts and
//! Dockerfiles (line rules): `curl | sh`, `chmod 777`. Rust (syn): `unsafe` blocks without a
//! `SAFETY:` comment, `Command::new("sh")` given a `format!`-built argument. Imports are followed
//! (`import subprocess as sp`, `from pickle import loads`).

use std::sync::OnceLock;

use guest_support::parse::Imports;
use guest_support::{Finding, LineIndex, Severity};
use regex::Regex;
use rustpython_parser::ast::{self, Constant, Expr, Ranged, Stmt};

/// A rule: id, CWE, severity, confidence, bandit id (Python) and message.
struct Rule {
    id: &'static str,
    cwe: &'static str,
    severity: Severity,
    confidence: &'static str,
    bandit: Option<&'static str>,
    message: &'static str,
}

const fn rule(
    id: &'static str,
    cwe: &'static str,
    severity: Severity,
    confidence: &'static str,
    bandit: Option<&'static str>,
    message: &'static str,
) -> Rule {
    Rule {
        id,
        cwe,
        severity,
        confidence,
        bandit,
        message,
    }
}

const EVAL: Rule = rule(
    "py-eval",
    "CWE-95",
    Severity::Warning,
    "high",
    Some("B307"),
    "`eval` runs arbitrary code: use `ast.literal_eval` for data",
);
const EXEC: Rule = rule(
    "py-exec",
    "CWE-95",
    Severity::Warning,
    "high",
    Some("B102"),
    "`exec` runs arbitrary code",
);
const SHELL: Rule = rule(
    "py-subprocess-shell",
    "CWE-78",
    Severity::Error,
    "high",
    Some("B602"),
    "subprocess call with `shell=True`: pass a list of arguments instead",
);
const OS_SHELL: Rule = rule(
    "py-os-shell",
    "CWE-78",
    Severity::Error,
    "high",
    Some("B605"),
    "starts a process with a shell: use `subprocess.run([...])`",
);
const PICKLE: Rule = rule(
    "py-deserialization",
    "CWE-502",
    Severity::Warning,
    "high",
    Some("B301"),
    "deserializing untrusted data runs code: use JSON or a safe format",
);
const YAML: Rule = rule(
    "py-yaml-load",
    "CWE-20",
    Severity::Warning,
    "high",
    Some("B506"),
    "`yaml.load` without a safe Loader can build arbitrary objects: use `yaml.safe_load`",
);
const VERIFY: Rule = rule(
    "py-tls-verify-disabled",
    "CWE-295",
    Severity::Error,
    "high",
    Some("B501"),
    "`verify=False` turns off TLS certificate checks",
);
const TEMP: Rule = rule(
    "py-hardcoded-tmp",
    "CWE-377",
    Severity::Warning,
    "medium",
    Some("B108"),
    "hard-coded temporary path: use `tempfile`",
);
const SQL: Rule = rule(
    "py-sql-formatting",
    "CWE-89",
    Severity::Error,
    "medium",
    Some("B608"),
    "SQL built by string formatting: pass parameters to the driver",
);
const HASH: Rule = rule(
    "py-weak-hash",
    "CWE-327",
    Severity::Warning,
    "high",
    Some("B324"),
    "MD5/SHA1 are broken for security (passwords, signatures): use hashlib.sha256, or a password hash such as scrypt/argon2",
);
const JS_EVAL: Rule = rule(
    "js-eval",
    "CWE-95",
    Severity::Warning,
    "high",
    None,
    "`eval` runs arbitrary code",
);
const JS_FUNCTION: Rule = rule(
    "js-new-function",
    "CWE-95",
    Severity::Warning,
    "high",
    None,
    "`new Function(...)` compiles a string into code",
);
const JS_EXEC: Rule = rule(
    "js-child-process-exec",
    "CWE-78",
    Severity::Error,
    "high",
    None,
    "a shell command built from strings: use `execFile`/`spawn` with an argument list",
);
const JS_HTML: Rule = rule(
    "js-inner-html",
    "CWE-79",
    Severity::Warning,
    "medium",
    None,
    "HTML assigned from a value that is not a literal: use `textContent` or sanitise",
);
const JS_WRITE: Rule = rule(
    "js-document-write",
    "CWE-79",
    Severity::Warning,
    "medium",
    None,
    "`document.write` with a value that is not a literal",
);
const SH_PIPE: Rule = rule(
    "sh-curl-pipe-shell",
    "CWE-494",
    Severity::Error,
    "high",
    None,
    "downloads a script and runs it unverified: download, check a checksum or signature, then run",
);
const SH_CHMOD: Rule = rule(
    "sh-chmod-777",
    "CWE-732",
    Severity::Warning,
    "high",
    None,
    "world-writable permissions",
);
const RS_UNSAFE: Rule = rule(
    "rust-unsafe-without-safety",
    "CWE-758",
    Severity::Warning,
    "medium",
    None,
    "`unsafe` block without a `// SAFETY:` comment saying why it is sound",
);
const RS_SHELL: Rule = rule(
    "rust-shell-format",
    "CWE-78",
    Severity::Error,
    "high",
    None,
    "a shell run with a `format!`-built command: pass arguments to the program directly",
);

/// Every rule, for `rules`: (id, cwe, bandit id, message).
pub fn rules() -> Vec<(
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
)> {
    [
        &EVAL,
        &EXEC,
        &SHELL,
        &OS_SHELL,
        &PICKLE,
        &YAML,
        &VERIFY,
        &TEMP,
        &SQL,
        &HASH,
        &JS_EVAL,
        &JS_FUNCTION,
        &JS_EXEC,
        &JS_HTML,
        &JS_WRITE,
        &SH_PIPE,
        &SH_CHMOD,
        &RS_UNSAFE,
        &RS_SHELL,
    ]
    .iter()
    .map(|r| (r.id, r.cwe, r.bandit, r.message))
    .collect()
}

fn finding(file: &str, (line, column): (usize, usize), rule: &Rule) -> Finding {
    let mut f = Finding::new(file, line, column, rule.id, rule.severity, rule.message)
        .with("confidence", rule.confidence)
        .with("cwe", rule.cwe);
    if let Some(bandit) = rule.bandit {
        f = f.with("bandit", bandit);
    }
    f
}

/// Scans one file by its language; `None` when the language is not one this scans.
pub fn scan(file: &str, text: &str) -> Option<Result<Vec<Finding>, String>> {
    let name = file.rsplit('/').next().unwrap_or(file);
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    Some(match ext {
        "py" | "pyi" => python(file, text),
        "js" | "mjs" | "cjs" | "jsx" | "ts" | "mts" | "cts" | "tsx" => javascript(file, text),
        "rs" => rust(file, text),
        "sh" | "bash" | "zsh" => Ok(shell(file, text)),
        _ if name == "Dockerfile"
            || name.starts_with("Dockerfile.")
            || text.starts_with("#!/bin/sh")
            || text.starts_with("#!/bin/bash")
            || text.starts_with("#!/usr/bin/env bash") =>
        {
            Ok(shell(file, text))
        }
        _ => return None,
    })
}

// ---------------------------------------------------------------- Python

struct Py<'f> {
    file: &'f str,
    index: LineIndex<'f>,
    /// Local name -> qualified name, from imports.
    imports: Imports,
    out: Vec<Finding>,
}

fn python(file: &str, text: &str) -> Result<Vec<Finding>, String> {
    let module = guest_support::parse::python(file, text)?;
    let mut py = Py {
        file,
        index: LineIndex::new(text),
        imports: Imports::default(),
        out: Vec::new(),
    };
    py.stmts(&module.body);
    Ok(py.out)
}

/// A literal that is false: `False`, `None`, `0`, `""`.
fn falsy(e: &Expr) -> bool {
    match e {
        Expr::Constant(c) => match &c.value {
            Constant::Bool(b) => !b,
            Constant::None => true,
            Constant::Int(i) => i.to_string() == "0",
            Constant::Str(s) => s.is_empty(),
            _ => false,
        },
        _ => false,
    }
}

fn sql_regex() -> &'static Regex {
    static CELL: OnceLock<Regex> = OnceLock::new();
    CELL.get_or_init(|| {
        Regex::new(
            r"(?i)^\s*(select\s.+\sfrom\s|insert\s+into\s|update\s+\S+\s+set\s|delete\s+from\s)",
        )
        .expect("valid")
    })
}

impl Py<'_> {
    fn at(&self, node: &impl Ranged) -> (usize, usize) {
        self.index.position(usize::from(node.start()))
    }

    fn report(&mut self, node: &impl Ranged, rule: &Rule) {
        let position = self.at(node);
        self.out.push(finding(self.file, position, rule));
    }

    /// The qualified name of a call target: `sp.run` -> `subprocess.run` after `import subprocess as sp`.
    fn qualified(&self, expr: &Expr) -> Option<String> {
        self.imports.qualified(expr)
    }

    fn stmts(&mut self, body: &[Stmt]) {
        for stmt in body {
            self.stmt(stmt);
        }
    }

    fn stmt(&mut self, stmt: &Stmt) {
        match stmt {
            Stmt::Import(s) => self.imports.import(s),
            Stmt::ImportFrom(s) => self.imports.import_from(s),
            Stmt::FunctionDef(ast::StmtFunctionDef {
                decorator_list,
                args,
                body,
                ..
            })
            | Stmt::AsyncFunctionDef(ast::StmtAsyncFunctionDef {
                decorator_list,
                args,
                body,
                ..
            }) => {
                self.exprs(decorator_list);
                self.args(args);
                self.stmts(body)
            }
            Stmt::ClassDef(s) => {
                self.exprs(&s.bases);
                self.stmts(&s.body)
            }
            Stmt::Return(s) => self.opt(s.value.as_deref()),
            Stmt::Delete(s) => self.exprs(&s.targets),
            Stmt::Assign(s) => self.expr(&s.value),
            Stmt::AugAssign(s) => self.expr(&s.value),
            Stmt::AnnAssign(s) => self.opt(s.value.as_deref()),
            Stmt::TypeAlias(s) => self.expr(&s.value),
            Stmt::For(ast::StmtFor {
                iter, body, orelse, ..
            })
            | Stmt::AsyncFor(ast::StmtAsyncFor {
                iter, body, orelse, ..
            }) => {
                self.expr(iter);
                self.stmts(body);
                self.stmts(orelse)
            }
            Stmt::While(s) => {
                self.expr(&s.test);
                self.stmts(&s.body);
                self.stmts(&s.orelse)
            }
            Stmt::If(s) => {
                self.expr(&s.test);
                self.stmts(&s.body);
                self.stmts(&s.orelse)
            }
            Stmt::With(ast::StmtWith { items, body, .. })
            | Stmt::AsyncWith(ast::StmtAsyncWith { items, body, .. }) => {
                for i in items {
                    self.expr(&i.context_expr)
                }
                self.stmts(body)
            }
            Stmt::Match(s) => {
                self.expr(&s.subject);
                for c in &s.cases {
                    self.stmts(&c.body)
                }
            }
            Stmt::Raise(s) => {
                self.opt(s.exc.as_deref());
                self.opt(s.cause.as_deref())
            }
            Stmt::Try(s) => self.try_parts(&s.body, &s.handlers, &s.orelse, &s.finalbody),
            Stmt::TryStar(s) => self.try_parts(&s.body, &s.handlers, &s.orelse, &s.finalbody),
            Stmt::Assert(s) => {
                self.expr(&s.test);
                self.opt(s.msg.as_deref())
            }
            Stmt::Expr(s) => self.expr(&s.value),
            Stmt::Global(_)
            | Stmt::Nonlocal(_)
            | Stmt::Pass(_)
            | Stmt::Break(_)
            | Stmt::Continue(_) => {}
        }
    }

    fn try_parts(
        &mut self,
        body: &[Stmt],
        handlers: &[ast::ExceptHandler],
        orelse: &[Stmt],
        finalbody: &[Stmt],
    ) {
        self.stmts(body);
        for handler in handlers {
            let ast::ExceptHandler::ExceptHandler(h) = handler;
            self.stmts(&h.body);
        }
        self.stmts(orelse);
        self.stmts(finalbody);
    }

    fn args(&mut self, args: &ast::Arguments) {
        for arg in args
            .posonlyargs
            .iter()
            .chain(&args.args)
            .chain(&args.kwonlyargs)
        {
            self.opt(arg.default.as_deref());
        }
    }

    fn opt(&mut self, expr: Option<&Expr>) {
        if let Some(e) = expr {
            self.expr(e);
        }
    }

    fn exprs(&mut self, exprs: &[Expr]) {
        for e in exprs {
            self.expr(e);
        }
    }

    fn call(&mut self, call: &ast::ExprCall) {
        let Some(name) = self.qualified(&call.func) else {
            return;
        };
        let keyword = |k: &str| {
            call.keywords
                .iter()
                .find(|kw| kw.arg.as_ref().is_some_and(|a| a.as_str() == k))
                .map(|kw| &kw.value)
        };
        let is_false = |e: Option<&Expr>| matches!(e, Some(Expr::Constant(c)) if matches!(c.value, Constant::Bool(false)));
        match name.as_str() {
            "eval" => self.report(call, &EVAL),
            "exec" => self.report(call, &EXEC),
            // As bandit: any `shell=` that is not a false literal (a variable may well be true).
            "subprocess.call"
            | "subprocess.run"
            | "subprocess.Popen"
            | "subprocess.check_call"
            | "subprocess.check_output"
                if keyword("shell").is_some_and(|e| !falsy(e)) =>
            {
                self.report(call, &SHELL)
            }
            "os.system"
            | "os.popen"
            | "subprocess.getoutput"
            | "subprocess.getstatusoutput"
            | "commands.getoutput" => self.report(call, &OS_SHELL),
            "pickle.loads" | "pickle.load" | "pickle.Unpickler" | "cPickle.loads"
            | "cPickle.load" | "marshal.loads" | "marshal.load" | "shelve.open" | "dill.loads"
            | "dill.load" | "jsonpickle.decode" => self.report(call, &PICKLE),
            "yaml.load" | "yaml.load_all" => {
                let loader = keyword("Loader").or_else(|| call.args.get(1));
                let safe = loader.and_then(|l| self.qualified(l)).is_some_and(|l| {
                    l.ends_with("SafeLoader")
                        || l.ends_with("CSafeLoader")
                        || l.ends_with("BaseLoader")
                });
                if !safe {
                    self.report(call, &YAML);
                }
            }
            "hashlib.md5" | "hashlib.sha1" if !is_false(keyword("usedforsecurity")) => {
                self.report(call, &HASH)
            }
            "hashlib.new" => {
                if let Some(Expr::Constant(c)) = call.args.first()
                    && let Constant::Str(algorithm) = &c.value
                    && matches!(
                        algorithm.to_ascii_lowercase().as_str(),
                        "md5" | "sha1" | "md4"
                    )
                    && !is_false(keyword("usedforsecurity"))
                {
                    self.report(call, &HASH);
                }
            }
            _ => {}
        }
        if is_false(keyword("verify"))
            && (name.starts_with("requests.")
                || name.starts_with("httpx.")
                || name.ends_with(".get")
                || name.ends_with(".post")
                || name.ends_with(".request"))
        {
            self.report(call, &VERIFY);
        }
        // "...".format(...) building SQL
        if let Expr::Attribute(a) = call.func.as_ref()
            && a.attr.as_str() == "format"
            && let Expr::Constant(c) = a.value.as_ref()
            && let Constant::Str(s) = &c.value
            && sql_regex().is_match(s)
        {
            self.report(call, &SQL);
        }
    }

    fn expr(&mut self, expr: &Expr) {
        match expr {
            Expr::Call(c) => {
                self.call(c);
                self.expr(&c.func);
                self.exprs(&c.args);
                for k in &c.keywords {
                    self.expr(&k.value);
                }
            }
            Expr::Constant(c) => {
                if let Constant::Str(s) = &c.value
                    && (s.starts_with("/tmp/")
                        || s == "/tmp"
                        || s.starts_with("/var/tmp")
                        || s.starts_with("/dev/shm"))
                {
                    self.report(c, &TEMP);
                }
            }
            Expr::BinOp(b) => {
                if matches!(b.op, ast::Operator::Mod | ast::Operator::Add)
                    && let Expr::Constant(c) = b.left.as_ref()
                    && let Constant::Str(s) = &c.value
                    && sql_regex().is_match(s)
                    && !matches!(b.right.as_ref(), Expr::Constant(_))
                {
                    self.report(b, &SQL);
                }
                self.expr(&b.left);
                self.expr(&b.right);
            }
            Expr::JoinedStr(j) => {
                let literal: String = j
                    .values
                    .iter()
                    .filter_map(|v| match v {
                        Expr::Constant(c) => match &c.value {
                            Constant::Str(s) => Some(s.as_str()),
                            _ => None,
                        },
                        _ => Some(" x "),
                    })
                    .collect();
                if j.values
                    .iter()
                    .any(|v| matches!(v, Expr::FormattedValue(_)))
                    && sql_regex().is_match(&literal)
                {
                    self.report(j, &SQL);
                }
                self.exprs(&j.values);
            }
            Expr::FormattedValue(f) => self.expr(&f.value),
            Expr::BoolOp(b) => self.exprs(&b.values),
            Expr::NamedExpr(n) => self.expr(&n.value),
            Expr::UnaryOp(u) => self.expr(&u.operand),
            Expr::Lambda(l) => self.expr(&l.body),
            Expr::IfExp(i) => {
                self.expr(&i.test);
                self.expr(&i.body);
                self.expr(&i.orelse)
            }
            Expr::Dict(d) => {
                for k in d.keys.iter().flatten() {
                    self.expr(k)
                }
                self.exprs(&d.values)
            }
            Expr::Set(s) => self.exprs(&s.elts),
            Expr::ListComp(c) => {
                self.expr(&c.elt);
                for g in &c.generators {
                    self.expr(&g.iter)
                }
            }
            Expr::SetComp(c) => {
                self.expr(&c.elt);
                for g in &c.generators {
                    self.expr(&g.iter)
                }
            }
            Expr::GeneratorExp(c) => {
                self.expr(&c.elt);
                for g in &c.generators {
                    self.expr(&g.iter)
                }
            }
            Expr::DictComp(c) => {
                self.expr(&c.key);
                self.expr(&c.value);
                for g in &c.generators {
                    self.expr(&g.iter)
                }
            }
            Expr::Await(a) => self.expr(&a.value),
            Expr::Yield(y) => self.opt(y.value.as_deref()),
            Expr::YieldFrom(y) => self.expr(&y.value),
            Expr::Compare(c) => {
                self.expr(&c.left);
                self.exprs(&c.comparators)
            }
            Expr::Attribute(a) => self.expr(&a.value),
            Expr::Subscript(s) => {
                self.expr(&s.value);
                self.expr(&s.slice)
            }
            Expr::Starred(s) => self.expr(&s.value),
            Expr::List(l) => self.exprs(&l.elts),
            Expr::Tuple(t) => self.exprs(&t.elts),
            Expr::Slice(s) => {
                self.opt(s.lower.as_deref());
                self.opt(s.upper.as_deref());
                self.opt(s.step.as_deref())
            }
            Expr::Name(_) => {}
        }
    }
}

// ---------------------------------------------------------------- JavaScript / TypeScript

fn javascript(file: &str, text: &str) -> Result<Vec<Finding>, String> {
    use oxc_allocator::Allocator;
    use oxc_ast::ast::{AssignmentTarget, CallExpression, Expression, NewExpression};
    use oxc_ast_visit::{Visit, walk};
    use oxc_span::GetSpan;

    struct V<'x> {
        file: &'x str,
        index: LineIndex<'x>,
        out: Vec<Finding>,
    }
    fn built(e: &Expression) -> bool {
        match e {
            Expression::BinaryExpression(b) => {
                !(matches!(b.left, Expression::StringLiteral(_))
                    && matches!(b.right, Expression::StringLiteral(_)))
            }
            Expression::TemplateLiteral(t) => !t.expressions.is_empty(),
            _ => false,
        }
    }
    fn literal(e: &Expression) -> bool {
        matches!(e, Expression::StringLiteral(_))
            || matches!(e, Expression::TemplateLiteral(t) if t.expressions.is_empty())
    }
    impl V<'_> {
        fn report(&mut self, offset: u32, rule: &Rule) {
            self.out.push(finding(
                self.file,
                self.index.position(offset as usize),
                rule,
            ));
        }
    }
    impl<'a> Visit<'a> for V<'_> {
        fn visit_call_expression(&mut self, it: &CallExpression<'a>) {
            let callee = match &it.callee {
                Expression::Identifier(id) => Some(id.name.as_str().to_string()),
                Expression::StaticMemberExpression(m) => Some(m.property.name.as_str().to_string()),
                _ => None,
            };
            let object = match &it.callee {
                Expression::StaticMemberExpression(m) => match &m.object {
                    Expression::Identifier(id) => Some(id.name.as_str().to_string()),
                    _ => None,
                },
                _ => None,
            };
            let first = it.arguments.first().and_then(|a| a.as_expression());
            match callee.as_deref() {
                Some("eval") if object.is_none() => self.report(it.span.start, &JS_EVAL),
                Some("exec" | "execSync") if first.is_some_and(built) => {
                    self.report(it.span.start, &JS_EXEC)
                }
                Some("write" | "writeln")
                    if object.as_deref() == Some("document")
                        && first.is_some_and(|e| !literal(e)) =>
                {
                    self.report(it.span.start, &JS_WRITE)
                }
                _ => {}
            }
            walk::walk_call_expression(self, it);
        }
        fn visit_new_expression(&mut self, it: &NewExpression<'a>) {
            if let Expression::Identifier(id) = &it.callee
                && id.name == "Function"
            {
                self.report(it.span.start, &JS_FUNCTION);
            }
            walk::walk_new_expression(self, it);
        }
        fn visit_assignment_expression(&mut self, it: &oxc_ast::ast::AssignmentExpression<'a>) {
            if let AssignmentTarget::StaticMemberExpression(m) = &it.left
                && matches!(m.property.name.as_str(), "innerHTML" | "outerHTML")
                && !literal(&it.right)
            {
                self.report(it.span().start, &JS_HTML);
            }
            walk::walk_assignment_expression(self, it);
        }
    }
    let allocator = Allocator::default();
    let program = guest_support::parse::javascript(&allocator, file, text)?;
    let mut v = V {
        file,
        index: LineIndex::new(text),
        out: Vec::new(),
    };
    v.visit_program(&program);
    Ok(v.out)
}

// ---------------------------------------------------------------- Shell

fn shell(file: &str, text: &str) -> Vec<Finding> {
    static PIPE: OnceLock<Regex> = OnceLock::new();
    static CHMOD: OnceLock<Regex> = OnceLock::new();
    let pipe = PIPE.get_or_init(|| {
        Regex::new(r"\b(curl|wget)\b[^|;&#]*\|\s*(sudo\s+(-\S+\s+)*)?(ba|z|da)?sh\b")
            .expect("valid")
    });
    let chmod = CHMOD.get_or_init(|| {
        Regex::new(r"\bchmod\s+(-R\s+)?(0?777|a\+rwx|ugo\+rwx|o\+w)\b").expect("valid")
    });
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let code = line.split(" #").next().unwrap_or(line);
        if code.trim_start().starts_with('#') {
            continue;
        }
        for (regex, rule) in [(pipe, &SH_PIPE), (chmod, &SH_CHMOD)] {
            if let Some(m) = regex.find(code) {
                out.push(finding(
                    file,
                    (i + 1, code[..m.start()].chars().count() + 1),
                    rule,
                ));
            }
        }
    }
    out
}

// ---------------------------------------------------------------- Rust

fn rust(file: &str, text: &str) -> Result<Vec<Finding>, String> {
    use syn::spanned::Spanned;
    use syn::visit::{self, Visit};

    struct V<'x> {
        file: &'x str,
        lines: Vec<&'x str>,
        out: Vec<Finding>,
    }
    fn has_format(tokens: &proc_macro2::TokenStream) -> bool {
        tokens.to_string().contains("format !")
    }
    impl V<'_> {
        /// A `// SAFETY:` comment on the line, or in the comment lines just above.
        fn documented(&self, line: usize) -> bool {
            let here = self.lines.get(line - 1).copied().unwrap_or("");
            if here.contains("SAFETY:") {
                return true;
            }
            let mut i = line - 1;
            while i > 0 {
                let above = self.lines[i - 1].trim_start();
                if above.contains("SAFETY:") {
                    return true;
                }
                if !(above.starts_with("//")
                    || above.starts_with("/*")
                    || above.starts_with('*')
                    || above.starts_with("#["))
                {
                    return false;
                }
                i -= 1;
            }
            false
        }
    }
    impl<'ast> Visit<'ast> for V<'_> {
        fn visit_expr_unsafe(&mut self, it: &'ast syn::ExprUnsafe) {
            let start = it.unsafe_token.span.start();
            if !self.documented(start.line) {
                self.out.push(finding(
                    self.file,
                    (start.line, start.column + 1),
                    &RS_UNSAFE,
                ));
            }
            visit::visit_expr_unsafe(self, it);
        }
        fn visit_expr_method_call(&mut self, it: &'ast syn::ExprMethodCall) {
            if matches!(it.method.to_string().as_str(), "arg" | "args")
                && it.args.iter().any(|a| has_format(&quote_tokens(a)))
            {
                // Walk down the receiver chain to `Command::new("sh")`.
                let mut receiver = &*it.receiver;
                loop {
                    match receiver {
                        syn::Expr::MethodCall(m) => receiver = &m.receiver,
                        syn::Expr::Call(call) => {
                            let is_new = matches!(&*call.func, syn::Expr::Path(p) if p.path.segments.len() >= 2 && p.path.segments.last().is_some_and(|s| s.ident == "new") && p.path.segments[p.path.segments.len() - 2].ident == "Command");
                            let shell = call.args.first().is_some_and(|a| matches!(a, syn::Expr::Lit(l) if matches!(&l.lit, syn::Lit::Str(s) if matches!(s.value().as_str(), "sh" | "bash" | "zsh" | "cmd" | "cmd.exe" | "powershell" | "/bin/sh" | "/bin/bash"))));
                            if is_new && shell {
                                let start = call.span().start();
                                self.out.push(finding(
                                    self.file,
                                    (start.line, start.column + 1),
                                    &RS_SHELL,
                                ));
                            }
                            break;
                        }
                        _ => break,
                    }
                }
            }
            visit::visit_expr_method_call(self, it);
        }
    }
    fn quote_tokens(expr: &syn::Expr) -> proc_macro2::TokenStream {
        quote::ToTokens::to_token_stream(expr)
    }
    let syntax = guest_support::parse::rust(text)?;
    let mut v = V {
        file,
        lines: text.lines().collect(),
        out: Vec::new(),
    };
    v.visit_file(&syntax);
    Ok(v.out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(file: &str, text: &str) -> Vec<(usize, String)> {
        scan(file, text)
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|f| (f.line, f.rule))
            .collect()
    }

    #[test]
    fn python_patterns_follow_imports() {
        let text = "import subprocess as sp\nfrom pickle import loads\nimport yaml, hashlib, requests\nsp.run(cmd, shell=True)\nloads(data)\nyaml.load(s)\nyaml.load(s, Loader=yaml.SafeLoader)\nrequests.get(u, verify=False)\nopen('/tmp/x')\ncur.execute('SELECT * FROM t WHERE id = %s' % uid)\nhashlib.md5(pw)\nhashlib.md5(b, usedforsecurity=False)\neval(x)\nsp.run(['ls'])\n";
        assert_eq!(
            ids("a.py", text),
            [
                (4, "py-subprocess-shell".into()),
                (5, "py-deserialization".into()),
                (6, "py-yaml-load".into()),
                (8, "py-tls-verify-disabled".into()),
                (9, "py-hardcoded-tmp".into()),
                (10, "py-sql-formatting".into()),
                (11, "py-weak-hash".into()),
                (13, "py-eval".into())
            ]
        );
    }

    #[test]
    fn javascript_shell_and_rust() {
        let js = "const cp = require('child_process');\ncp.exec('ls ' + dir);\ncp.exec('ls');\nel.innerHTML = input;\nel.innerHTML = '<b>x</b>';\nnew Function('return 1');\neval(code);\n";
        assert_eq!(
            ids("a.js", js),
            [
                (2, "js-child-process-exec".into()),
                (4, "js-inner-html".into()),
                (6, "js-new-function".into()),
                (7, "js-eval".into())
            ]
        );
        let sh =
            "#!/bin/sh\ncurl -fsSL https://x.sh | sudo bash\n# curl x | sh\nchmod -R 777 /srv\n";
        assert_eq!(
            ids("install.sh", sh),
            [(2, "sh-curl-pipe-shell".into()), (4, "sh-chmod-777".into())]
        );
        let rs = "fn f(p: *const u8, n: &str) {\n    // SAFETY: p is valid\n    unsafe { p.read() };\n    unsafe { p.read() };\n    std::process::Command::new(\"sh\").arg(\"-c\").arg(format!(\"ls {n}\"));\n}\n";
        assert_eq!(
            ids("a.rs", rs),
            [
                (4, "rust-unsafe-without-safety".into()),
                (5, "rust-shell-format".into())
            ]
        );
    }
}
