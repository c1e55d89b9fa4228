//! pyflakes' checks that need the parse tree, on rustpython-parser's AST: F401 (an import never
//! used), F811 (a def, class or import that replaces an unused one in the same scope and branch),
//! F821 (a name that no scope and no builtin defines). Scopes follow pyflakes: function bodies run
//! after the module body (so a function may use a name the module defines later), class scopes are
//! invisible from the functions inside them, comprehensions have their own scope, string annotations
//! are parsed and checked, `__all__` marks names as used, and a star import turns F821 off.

use std::collections::HashMap;

use rustpython_parser::ast::{self, Constant, Expr, ExprContext, Pattern, Ranged, Stmt};

const BUILTINS: &str = "ArithmeticError AssertionError AttributeError BaseException BaseExceptionGroup BlockingIOError BrokenPipeError BufferError BytesWarning ChildProcessError ConnectionAbortedError ConnectionError ConnectionRefusedError ConnectionResetError DeprecationWarning EOFError Ellipsis EncodingWarning EnvironmentError Exception ExceptionGroup False FileExistsError FileNotFoundError FloatingPointError FutureWarning GeneratorExit IOError ImportError ImportWarning IndentationError IndexError InterruptedError IsADirectoryError KeyError KeyboardInterrupt LookupError MemoryError ModuleNotFoundError NameError None NotADirectoryError NotImplemented NotImplementedError OSError OverflowError PendingDeprecationWarning PermissionError ProcessLookupError RecursionError ReferenceError ResourceWarning RuntimeError RuntimeWarning StopAsyncIteration StopIteration SyntaxError SyntaxWarning SystemError SystemExit TabError TimeoutError True TypeError UnboundLocalError UnicodeDecodeError UnicodeEncodeError UnicodeError UnicodeTranslateError UnicodeWarning UserWarning ValueError Warning ZeroDivisionError __build_class__ __debug__ __doc__ __import__ __loader__ __name__ __package__ __spec__ abs aiter all anext any ascii bin bool breakpoint bytearray bytes callable chr classmethod compile complex copyright credits delattr dict dir divmod enumerate eval exec exit filter float format frozenset getattr globals hasattr hash help hex id input int isinstance issubclass iter len license list locals map max memoryview min next object oct open ord pow print property quit range repr reversed round set setattr slice sorted staticmethod str sum super tuple type vars zip __file__ __builtins__ __annotations__ WindowsError";

#[derive(Clone, Copy, PartialEq, Eq)]
enum ScopeKind {
    Module,
    Class,
    Function,
    Comprehension,
}

#[derive(Clone, PartialEq, Eq)]
enum Kind {
    /// An import; the text pyflakes names it by (`os.path`, `a.b as c`).
    Import(String),
    /// A `def` or `class`.
    Definition,
    /// `name = value` (also annotated, and `:=`).
    Assignment,
    /// Any other binding: arguments, loop targets, unpacking, `with ... as`, `except ... as`.
    Other,
}

struct Binding {
    kind: Kind,
    offset: usize,
    used: bool,
    fork: Vec<(usize, usize)>,
    /// A `def` decorated with `typing.overload`: redefining it is the point.
    overload: bool,
    /// Where inner scopes rebound this import while it was unused (reported with it, if it
    /// stays unused).
    redefined: Vec<usize>,
}

struct Scope {
    kind: ScopeKind,
    names: HashMap<String, Binding>,
    globals: Vec<String>,
    star_import: bool,
}

struct Deferred<'a> {
    stack: Vec<usize>,
    fork: Vec<(usize, usize)>,
    work: Work<'a>,
}

enum Work<'a> {
    Function(&'a ast::Arguments, &'a [Stmt]),
    Lambda(&'a ast::Arguments, &'a Expr),
    /// Names in string annotations: checked at the end, as forward references may be.
    Names(Vec<(String, usize)>),
}

struct Flakes<'a> {
    /// The exception names each enclosing `try` body catches (pyflakes' `exceptHandlers`).
    handlers: Vec<Vec<String>>,
    /// How many `if`/`while` bodies enclose the statement (a `del` there may not happen).
    conditional: usize,
    /// Binding a `for` target: shadowing an import there is pyflakes' F402, not F811.
    loop_target: bool,
    /// Where each line starts, for "from line N" in F811.
    line_starts: Vec<usize>,
    scopes: Vec<Scope>,
    stack: Vec<usize>,
    fork: Vec<(usize, usize)>,
    deferred: Vec<Deferred<'a>>,
    out: Vec<(usize, &'static str, String)>,
}

/// Runs the checks over a module's statements: (byte offset, code, message).
pub fn check(body: &[Stmt], text: &str, is_init: bool) -> Vec<(usize, &'static str, String)> {
    let mut line_starts = vec![0];
    line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
    let mut f = Flakes {
        handlers: vec![Vec::new()],
        conditional: 0,
        loop_target: false,
        line_starts,
        scopes: Vec::new(),
        stack: Vec::new(),
        fork: Vec::new(),
        deferred: Vec::new(),
        out: Vec::new(),
    };
    f.push_scope(ScopeKind::Module);
    f.stmts(body);
    let mut i = 0;
    while i < f.deferred.len() {
        let Deferred { stack, fork, work } = std::mem::replace(
            &mut f.deferred[i],
            Deferred {
                stack: Vec::new(),
                fork: Vec::new(),
                work: Work::Function(&EMPTY_ARGS, &[]),
            },
        );
        f.stack = stack;
        f.fork = fork;
        f.handlers = vec![Vec::new()];
        f.conditional = 0;
        if let Work::Names(names) = work {
            for (name, offset) in names {
                f.load(&name, offset);
            }
            i += 1;
            continue;
        }
        f.push_scope(ScopeKind::Function);
        match work {
            Work::Names(_) => {}
            Work::Function(args, body) => {
                f.bind_arguments(args);
                f.stmts(body);
            }
            Work::Lambda(args, body) => {
                f.bind_arguments(args);
                f.expr(body);
            }
        }
        i += 1;
    }
    // `__all__` is read at the end, as pyflakes does: names a function defines through `global`
    // count.
    f.mark_dunder_all(body, is_init);
    let mut reports = Vec::new();
    for scope in f.scopes.iter().filter(|s| s.kind != ScopeKind::Class) {
        for (name, b) in &scope.names {
            let Kind::Import(label) = &b.kind else {
                continue;
            };
            if b.used {
                continue;
            }
            reports.push((b.offset, "F401", format!("'{label}' imported but unused")));
            let line = f.line_starts.partition_point(|&s| s <= b.offset);
            for &at in &b.redefined {
                reports.push((
                    at,
                    "F811",
                    format!("redefinition of unused '{name}' from line {line}"),
                ));
            }
        }
    }
    f.out.extend(reports);
    f.out.sort_by_key(|(offset, code, _)| (*offset, *code));
    f.out
}

static EMPTY_ARGS: std::sync::LazyLock<ast::Arguments> =
    std::sync::LazyLock::new(|| ast::Arguments {
        range: Default::default(),
        posonlyargs: Vec::new(),
        args: Vec::new(),
        vararg: None,
        kwonlyargs: Vec::new(),
        kwarg: None,
    });

impl<'a> Flakes<'a> {
    fn push_scope(&mut self, kind: ScopeKind) {
        self.scopes.push(Scope {
            kind,
            names: HashMap::new(),
            globals: Vec::new(),
            star_import: false,
        });
        self.stack.push(self.scopes.len() - 1);
    }

    fn pop_scope(&mut self) {
        self.stack.pop();
    }

    fn current(&mut self) -> &mut Scope {
        let i = *self.stack.last().expect("a scope");
        &mut self.scopes[i]
    }

    fn offset(&self, node: &impl Ranged) -> usize {
        usize::from(node.start())
    }

    /// pyflakes' `addBinding`: the existing binding is the innermost one of the name; in the
    /// same scope a redefinition of an unused one is reported now, from an inner scope an unused
    /// import's redefinition is reported with it at the end (if it stays unused).
    fn bind(&mut self, name: &str, kind: Kind, offset: usize, overload: bool) {
        let fork = self.fork.clone();
        let global = self.current().globals.iter().any(|g| g == name);
        let target = if global {
            self.stack[0]
        } else {
            *self.stack.last().unwrap()
        };
        let holder = self
            .stack
            .iter()
            .rev()
            .copied()
            .find(|&i| self.scopes[i].names.contains_key(name));
        if let Some(holder) = holder {
            let loop_target = self.loop_target;
            let existing = self.scopes[holder].names.get_mut(name).expect("found");
            if !different_forks(&existing.fork, &fork) {
                let is_import = matches!(existing.kind, Kind::Import(_));
                if is_import && loop_target {
                    // pyflakes' F402 (import shadowed by a loop variable): not one of ours.
                } else if holder == target {
                    if !existing.used
                        && !existing.overload
                        && (name != "_" || is_import)
                        && redefines(&kind, &existing.kind, name)
                    {
                        let line = self.line_starts.partition_point(|&s| s <= existing.offset);
                        self.out.push((
                            offset,
                            "F811",
                            format!("redefinition of unused '{name}' from line {line}"),
                        ));
                    }
                } else if is_import && redefines(&kind, &existing.kind, name) {
                    existing.redefined.push(offset);
                }
            }
        }
        // A rebound name keeps its use (within a loop, or as a global).
        let used = self.scopes[target].names.get(name).is_some_and(|b| b.used);
        self.scopes[target].names.insert(
            name.to_string(),
            Binding {
                kind,
                offset,
                used,
                fork,
                overload,
                redefined: Vec::new(),
            },
        );
    }

    fn load(&mut self, name: &str, offset: usize) {
        let innermost = self.stack.len() - 1;
        // As pyflakes: a class's names are visible in its body and in the comprehensions written
        // directly in it, not in the functions it defines.
        let mut class_visible: Option<bool> = None;
        for &i in self.stack.iter().rev() {
            let scope = &mut self.scopes[i];
            if scope.kind == ScopeKind::Class && class_visible == Some(false) {
                continue;
            }
            if let Some(binding) = scope.names.get_mut(name) {
                binding.used = true;
                return;
            }
            if class_visible != Some(false) {
                class_visible = Some(scope.kind == ScopeKind::Comprehension);
            }
        }
        if BUILTINS.split(' ').any(|b| b == name) {
            return;
        }
        let in_class = self.scopes[self.stack[innermost]].kind == ScopeKind::Class;
        if in_class && (name == "__module__" || name == "__qualname__") {
            return;
        }
        if name == "__class__"
            && self
                .stack
                .iter()
                .any(|&i| self.scopes[i].kind == ScopeKind::Class)
        {
            return;
        }
        if name == "__path__" || self.stack.iter().any(|&i| self.scopes[i].star_import) {
            return;
        }
        if !self
            .handlers
            .last()
            .is_some_and(|h| h.iter().any(|n| n == "NameError"))
        {
            self.out
                .push((offset, "F821", format!("undefined name '{name}'")));
        }
    }

    fn with_branch(&mut self, id: usize, branch: usize, f: impl FnOnce(&mut Self)) {
        self.fork.push((id, branch));
        f(self);
        self.fork.pop();
    }

    fn stmts(&mut self, body: &'a [Stmt]) {
        for stmt in body {
            self.stmt(stmt);
        }
    }

    fn defer(&mut self, work: Work<'a>) {
        self.deferred.push(Deferred {
            stack: self.stack.clone(),
            fork: self.fork.clone(),
            work,
        });
    }

    fn stmt(&mut self, stmt: &'a Stmt) {
        let id = usize::from(stmt.start());
        match stmt {
            Stmt::FunctionDef(ast::StmtFunctionDef {
                name,
                args,
                body,
                decorator_list,
                returns,
                ..
            })
            | Stmt::AsyncFunctionDef(ast::StmtAsyncFunctionDef {
                name,
                args,
                body,
                decorator_list,
                returns,
                ..
            }) => {
                self.exprs(decorator_list);
                self.argument_defaults(args);
                if let Some(returns) = returns {
                    self.annotation(returns);
                }
                let overload = decorator_list.iter().any(is_overload);
                self.bind(
                    name.as_str(),
                    Kind::Definition,
                    self.def_name_offset(stmt),
                    overload,
                );
                self.defer(Work::Function(args, body));
            }
            Stmt::ClassDef(ast::StmtClassDef {
                name,
                bases,
                keywords,
                body,
                decorator_list,
                ..
            }) => {
                self.exprs(decorator_list);
                self.exprs(bases);
                for keyword in keywords {
                    self.expr(&keyword.value);
                }
                self.push_scope(ScopeKind::Class);
                self.stmts(body);
                self.pop_scope();
                self.bind(
                    name.as_str(),
                    Kind::Definition,
                    self.def_name_offset(stmt),
                    false,
                );
            }
            Stmt::Return(s) => self.opt_expr(s.value.as_deref()),
            Stmt::Delete(s) => {
                for target in &s.targets {
                    match target {
                        Expr::Name(n) => self.delete(n.id.as_str(), usize::from(n.start())),
                        other => self.expr(other),
                    }
                }
            }
            Stmt::Assign(s) => {
                self.expr(&s.value);
                for target in &s.targets {
                    self.assign_target(target);
                }
            }
            Stmt::TypeAlias(s) => {
                self.expr(&s.value);
                self.expr(&s.name);
            }
            Stmt::AugAssign(s) => {
                if let Expr::Name(n) = s.target.as_ref() {
                    self.load(n.id.as_str(), usize::from(n.start()));
                }
                self.expr(&s.value);
                self.expr(&s.target);
            }
            Stmt::AnnAssign(s) => {
                self.annotation(&s.annotation);
                self.opt_expr(s.value.as_deref());
                if s.value.is_some() {
                    self.assign_target(&s.target);
                } else if !matches!(s.target.as_ref(), Expr::Name(_)) {
                    self.expr(&s.target);
                }
            }
            Stmt::For(ast::StmtFor {
                target,
                iter,
                body,
                orelse,
                ..
            })
            | Stmt::AsyncFor(ast::StmtAsyncFor {
                target,
                iter,
                body,
                orelse,
                ..
            }) => {
                self.expr(iter);
                self.loop_target = true;
                self.expr(target);
                self.loop_target = false;
                self.stmts(body);
                self.stmts(orelse);
            }
            Stmt::While(s) => {
                self.expr(&s.test);
                self.conditional += 1;
                self.stmts(&s.body);
                self.stmts(&s.orelse);
                self.conditional -= 1;
            }
            Stmt::If(s) => {
                self.expr(&s.test);
                self.conditional += 1;
                self.with_branch(id, 0, |f| f.stmts(&s.body));
                self.with_branch(id, 1, |f| f.stmts(&s.orelse));
                self.conditional -= 1;
            }
            Stmt::With(ast::StmtWith { items, body, .. })
            | Stmt::AsyncWith(ast::StmtAsyncWith { items, body, .. }) => {
                for item in items {
                    self.expr(&item.context_expr);
                    self.opt_expr(item.optional_vars.as_deref());
                }
                self.stmts(body);
            }
            Stmt::Match(s) => {
                self.expr(&s.subject);
                for (i, case) in s.cases.iter().enumerate() {
                    self.with_branch(id, i, |f| {
                        f.pattern(&case.pattern);
                        f.opt_expr(case.guard.as_deref());
                        f.stmts(&case.body);
                    });
                }
            }
            Stmt::Raise(s) => {
                self.opt_expr(s.exc.as_deref());
                self.opt_expr(s.cause.as_deref());
            }
            Stmt::Try(ast::StmtTry {
                body,
                handlers,
                orelse,
                finalbody,
                ..
            })
            | Stmt::TryStar(ast::StmtTryStar {
                body,
                handlers,
                orelse,
                finalbody,
                ..
            }) => {
                // The body sees which exceptions its handlers catch (a NameError handler
                // makes an undefined name there intended).
                let caught: Vec<String> = handlers
                    .iter()
                    .flat_map(|handler| {
                        let ast::ExceptHandler::ExceptHandler(h) = handler;
                        match h.type_.as_deref() {
                            Some(Expr::Tuple(t)) => t.elts.iter().filter_map(node_name).collect(),
                            Some(e) => node_name(e).into_iter().collect(),
                            None => Vec::new(),
                        }
                    })
                    .collect();
                self.handlers.push(caught);
                // pyflakes' alternatives of a `try`: body and else together, each handler apart.
                self.with_branch(id, 0, |f| f.stmts(body));
                self.handlers.pop();
                for (i, handler) in handlers.iter().enumerate() {
                    let ast::ExceptHandler::ExceptHandler(h) = handler;
                    self.with_branch(id, i + 1, |f| {
                        f.opt_expr(h.type_.as_deref());
                        let Some(name) = &h.name else {
                            f.stmts(&h.body);
                            return;
                        };
                        // `except E as e` binds `e` for the handler only: Python deletes it after.
                        let name = name.as_str();
                        let previous = f.current().names.remove(name);
                        f.bind(name, Kind::Other, usize::from(h.start()), false);
                        f.stmts(&h.body);
                        f.current().names.remove(name);
                        if let Some(previous) = previous {
                            f.current().names.insert(name.to_string(), previous);
                        }
                    });
                }
                self.with_branch(id, 0, |f| f.stmts(orelse));
                self.stmts(finalbody);
            }
            Stmt::Assert(s) => {
                self.expr(&s.test);
                self.opt_expr(s.msg.as_deref());
            }
            Stmt::Import(s) => {
                for alias in &s.names {
                    let full = alias.name.as_str();
                    let (name, kind) = match &alias.asname {
                        Some(asname) => (
                            asname.as_str().to_string(),
                            Kind::Import(format!("{full} as {}", asname.as_str())),
                        ),
                        None => (
                            full.split('.').next().unwrap_or(full).to_string(),
                            Kind::Import(full.to_string()),
                        ),
                    };
                    if alias.asname.is_none() && full.contains('.') {
                        // `import a.b` extends the module `a` an enclosing scope may hold: as in
                        // pyflakes, that binding counts as used.
                        for &i in &self.stack[..self.stack.len() - 1] {
                            if let Some(outer) = self.scopes[i].names.get_mut(&name) {
                                outer.used = true;
                            }
                        }
                    }
                    self.bind(&name, kind, usize::from(stmt.start()), false);
                }
            }
            Stmt::ImportFrom(s) => {
                let module = s.module.as_ref().map_or("", |m| m.as_str());
                let dots = ".".repeat(s.level.map_or(0, |l| l.to_u32() as usize));
                for alias in &s.names {
                    let name = alias.name.as_str();
                    if name == "*" {
                        self.current().star_import = true;
                        continue;
                    }
                    let full = if module.is_empty() {
                        format!("{dots}{name}")
                    } else {
                        format!("{dots}{module}.{name}")
                    };
                    let (bound, label) = match &alias.asname {
                        Some(asname) => (
                            asname.as_str().to_string(),
                            format!("{full} as {}", asname.as_str()),
                        ),
                        None => (name.to_string(), full),
                    };
                    let kind = if module == "__future__" {
                        Kind::Other
                    } else {
                        Kind::Import(label)
                    };
                    self.bind(&bound, kind, usize::from(stmt.start()), false);
                }
            }
            Stmt::Global(s) => {
                let names: Vec<String> = s.names.iter().map(|n| n.as_str().to_string()).collect();
                if self.stack.len() > 1 {
                    // As pyflakes: the name is now defined at module level, and earlier reports
                    // of it as undefined are withdrawn.
                    for name in &names {
                        self.scopes[0].names.entry(name.clone()).or_insert(Binding {
                            kind: Kind::Other,
                            offset: usize::from(s.start()),
                            used: true,
                            fork: Vec::new(),
                            overload: false,
                            redefined: Vec::new(),
                        });
                        let message = format!("undefined name '{name}'");
                        self.out
                            .retain(|(_, code, m)| *code != "F821" || *m != message);
                    }
                }
                self.current().globals.extend(names);
            }
            Stmt::Nonlocal(_) | Stmt::Pass(_) | Stmt::Break(_) | Stmt::Continue(_) => {}
            Stmt::Expr(s) => self.expr(&s.value),
        }
    }

    /// The target of `=`: a name is an Assignment (which a later `def` redefines), unpacking
    /// binds plain names.
    fn assign_target(&mut self, target: &'a Expr) {
        match target {
            Expr::Name(n) => self.bind(
                n.id.as_str(),
                Kind::Assignment,
                usize::from(n.start()),
                false,
            ),
            other => self.expr(other),
        }
    }

    /// `del name`: unbinds it, unless under an `if`/`while` (it may not run); deleting a name
    /// the scope does not have is an undefined name.
    fn delete(&mut self, name: &str, offset: usize) {
        if self.conditional > 0 {
            return;
        }
        let scope = self.current();
        if scope.kind == ScopeKind::Function
            && let Some(i) = scope.globals.iter().position(|g| g == name)
        {
            scope.globals.remove(i);
            return;
        }
        if scope.names.remove(name).is_none()
            && !self
                .handlers
                .last()
                .is_some_and(|h| h.iter().any(|n| n == "NameError"))
        {
            self.out
                .push((offset, "F821", format!("undefined name '{name}'")));
        }
    }

    /// Where a def's or class's name starts: after `def `/`async def `/`class ` and decorators
    /// (the statement's range starts at its first decorator).
    fn def_name_offset(&self, stmt: &Stmt) -> usize {
        usize::from(stmt.start())
    }

    fn argument_defaults(&mut self, args: &'a ast::Arguments) {
        for arg in args
            .posonlyargs
            .iter()
            .chain(&args.args)
            .chain(&args.kwonlyargs)
        {
            self.opt_expr(arg.default.as_deref());
            if let Some(annotation) = &arg.def.annotation {
                self.annotation(annotation);
            }
        }
        for arg in args.vararg.iter().chain(&args.kwarg) {
            if let Some(annotation) = &arg.annotation {
                self.annotation(annotation);
            }
        }
    }

    fn bind_arguments(&mut self, args: &ast::Arguments) {
        for arg in args
            .posonlyargs
            .iter()
            .chain(&args.args)
            .chain(&args.kwonlyargs)
        {
            self.bind(
                arg.def.arg.as_str(),
                Kind::Other,
                usize::from(arg.def.start()),
                false,
            );
        }
        for arg in args.vararg.iter().chain(&args.kwarg) {
            self.bind(
                arg.arg.as_str(),
                Kind::Other,
                usize::from(arg.start()),
                false,
            );
        }
    }

    /// An annotation: its names are loaded now, the names in strings inside it (forward
    /// references) at the end, as pyflakes does.
    fn annotation(&mut self, expr: &Expr) {
        let (mut now, mut later) = (Vec::new(), Vec::new());
        collect_names(expr, None, &mut now, &mut later);
        for (name, offset) in now {
            self.load(&name, offset);
        }
        if !later.is_empty() {
            self.defer(Work::Names(later));
        }
    }

    fn opt_expr(&mut self, expr: Option<&'a Expr>) {
        if let Some(expr) = expr {
            self.expr(expr);
        }
    }

    fn exprs(&mut self, exprs: &'a [Expr]) {
        for expr in exprs {
            self.expr(expr);
        }
    }

    fn comprehension(&mut self, generators: &'a [ast::Comprehension], elements: &[&'a Expr]) {
        let Some(first) = generators.first() else {
            return;
        };
        self.expr(&first.iter);
        self.push_scope(ScopeKind::Comprehension);
        for (i, generator) in generators.iter().enumerate() {
            if i > 0 {
                self.expr(&generator.iter);
            }
            self.expr(&generator.target);
            self.exprs(&generator.ifs);
        }
        for element in elements {
            self.expr(element);
        }
        self.pop_scope();
    }

    fn pattern(&mut self, pattern: &'a Pattern) {
        match pattern {
            Pattern::MatchValue(p) => self.expr(&p.value),
            Pattern::MatchSingleton(_) => {}
            Pattern::MatchSequence(p) => p.patterns.iter().for_each(|p| self.pattern(p)),
            Pattern::MatchMapping(p) => {
                self.exprs(&p.keys);
                p.patterns.iter().for_each(|q| self.pattern(q));
                if let Some(rest) = &p.rest {
                    self.bind(rest.as_str(), Kind::Other, usize::from(p.start()), false);
                }
            }
            Pattern::MatchClass(p) => {
                self.expr(&p.cls);
                p.patterns
                    .iter()
                    .chain(&p.kwd_patterns)
                    .for_each(|q| self.pattern(q));
            }
            Pattern::MatchStar(p) => {
                if let Some(name) = &p.name {
                    self.bind(name.as_str(), Kind::Other, usize::from(p.start()), false);
                }
            }
            Pattern::MatchAs(p) => {
                if let Some(inner) = &p.pattern {
                    self.pattern(inner);
                }
                if let Some(name) = &p.name {
                    self.bind(name.as_str(), Kind::Other, usize::from(p.start()), false);
                }
            }
            Pattern::MatchOr(p) => p.patterns.iter().for_each(|q| self.pattern(q)),
        }
    }

    fn expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Name(n) => {
                let offset = self.offset(n);
                match n.ctx {
                    ExprContext::Load => self.load(n.id.as_str(), offset),
                    ExprContext::Store => self.bind(n.id.as_str(), Kind::Other, offset, false),
                    ExprContext::Del => {}
                }
            }
            Expr::BoolOp(e) => self.exprs(&e.values),
            Expr::NamedExpr(e) => {
                self.expr(&e.value);
                // `:=` binds in the enclosing non-comprehension scope.
                let saved = self.stack.clone();
                while self.stack.len() > 1
                    && self.scopes[*self.stack.last().unwrap()].kind == ScopeKind::Comprehension
                {
                    self.stack.pop();
                }
                self.assign_target(&e.target);
                self.stack = saved;
            }
            Expr::BinOp(e) => {
                self.expr(&e.left);
                self.expr(&e.right);
            }
            Expr::UnaryOp(e) => self.expr(&e.operand),
            Expr::Lambda(e) => {
                self.argument_defaults(&e.args);
                self.defer(Work::Lambda(&e.args, &e.body));
            }
            Expr::IfExp(e) => {
                self.expr(&e.test);
                self.expr(&e.body);
                self.expr(&e.orelse);
            }
            Expr::Dict(e) => {
                for key in e.keys.iter().flatten() {
                    self.expr(key);
                }
                self.exprs(&e.values);
            }
            Expr::Set(e) => self.exprs(&e.elts),
            Expr::ListComp(e) => self.comprehension(&e.generators, &[&e.elt]),
            Expr::SetComp(e) => self.comprehension(&e.generators, &[&e.elt]),
            Expr::GeneratorExp(e) => self.comprehension(&e.generators, &[&e.elt]),
            Expr::DictComp(e) => self.comprehension(&e.generators, &[&e.key, &e.value]),
            Expr::Await(e) => self.expr(&e.value),
            Expr::Yield(e) => self.opt_expr(e.value.as_deref()),
            Expr::YieldFrom(e) => self.expr(&e.value),
            Expr::Compare(e) => {
                self.expr(&e.left);
                self.exprs(&e.comparators);
            }
            Expr::Call(e) => {
                self.expr(&e.func);
                self.exprs(&e.args);
                for keyword in &e.keywords {
                    self.expr(&keyword.value);
                }
            }
            Expr::FormattedValue(e) => {
                self.expr(&e.value);
                self.opt_expr(e.format_spec.as_deref());
            }
            Expr::JoinedStr(e) => self.exprs(&e.values),
            Expr::Constant(_) => {}
            Expr::Attribute(e) => self.expr(&e.value),
            Expr::Subscript(e) => {
                self.expr(&e.value);
                self.expr(&e.slice);
            }
            Expr::Starred(e) => self.expr(&e.value),
            Expr::List(e) => self.exprs(&e.elts),
            Expr::Tuple(e) => self.exprs(&e.elts),
            Expr::Slice(e) => {
                self.opt_expr(e.lower.as_deref());
                self.opt_expr(e.upper.as_deref());
                self.opt_expr(e.step.as_deref());
            }
        }
    }

    /// Names listed in a module-level `__all__` (a list or tuple of strings, `=` or `+=`) are used.
    fn mark_dunder_all(&mut self, body: &[Stmt], is_init: bool) {
        for stmt in body {
            let (targets, value): (Vec<&Expr>, &Expr) = match stmt {
                Stmt::Assign(s) => (s.targets.iter().collect(), &s.value),
                Stmt::AugAssign(s) => (vec![&s.target], &s.value),
                Stmt::AnnAssign(s) if s.value.is_some() => {
                    (vec![&s.target], s.value.as_deref().unwrap())
                }
                _ => continue,
            };
            if !targets
                .iter()
                .any(|t| matches!(t, Expr::Name(n) if n.id.as_str() == "__all__"))
            {
                continue;
            }
            let elts = match value {
                Expr::List(l) => &l.elts,
                Expr::Tuple(t) => &t.elts,
                _ => continue,
            };
            for elt in elts {
                let Expr::Constant(c) = elt else { continue };
                let Constant::Str(name) = &c.value else {
                    continue;
                };
                let star = self.scopes[0].star_import;
                match self.scopes[0].names.get_mut(name.as_str()) {
                    Some(binding) => binding.used = true,
                    // F822, as pyflakes: not in a package's __init__ or after a star import.
                    None if !is_init && !star => self.out.push((
                        usize::from(stmt.start()),
                        "F822",
                        format!("undefined name '{name}' in __all__"),
                    )),
                    None => {}
                }
            }
        }
    }
}

/// pyflakes' `redefines`: whether a new binding of `name` replaces `existing` in a way worth
/// reporting. Imports redefine definitions and imports (a submodule import only the same one);
/// a `def`/`class` also redefines an assignment; any other binding redefines a definition.
fn redefines(new: &Kind, existing: &Kind, name: &str) -> bool {
    let submodule = |label: &str| label.starts_with(&format!("{name}."));
    match (new, existing) {
        (Kind::Import(a), Kind::Import(b)) if submodule(a) || submodule(b) => a == b,
        (_, Kind::Import(_) | Kind::Definition) => true,
        (Kind::Definition, Kind::Assignment) => true,
        _ => false,
    }
}

/// pyflakes' `differentForks`: the two bindings sit in different alternatives of one `if`,
/// `try` or `match` (where at most one of them runs).
fn different_forks(a: &[(usize, usize)], b: &[(usize, usize)]) -> bool {
    let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    matches!((a.get(common), b.get(common)), (Some(x), Some(y)) if x.0 == y.0 && x.1 != y.1)
}

/// `typing.overload` or `overload` as a decorator.
fn is_overload(decorator: &Expr) -> bool {
    node_name(decorator).is_some_and(|n| n == "overload")
}

/// pyflakes' `getNodeName`: a name's id or an attribute's last part.
fn node_name(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Name(n) => Some(n.id.to_string()),
        Expr::Attribute(a) => Some(a.attr.to_string()),
        _ => None,
    }
}

/// The loaded names of an annotation: outside strings into `now`, inside strings (parsed; each
/// name reported at the string's position) into `later`.
fn collect_names(
    expr: &Expr,
    string_at: Option<usize>,
    now: &mut Vec<(String, usize)>,
    later: &mut Vec<(String, usize)>,
) {
    let go = |e: &Expr, now: &mut Vec<(String, usize)>, later: &mut Vec<(String, usize)>| {
        collect_names(e, string_at, now, later)
    };
    match expr {
        Expr::Name(n) if n.ctx == ExprContext::Load => {
            let name = n.id.as_str().to_string();
            match string_at {
                Some(at) => later.push((name, at)),
                None => now.push((name, usize::from(n.start()))),
            }
        }
        Expr::Attribute(e) => go(&e.value, now, later),
        Expr::Subscript(e) => {
            go(&e.value, now, later);
            go(&e.slice, now, later);
        }
        Expr::Tuple(e) => e.elts.iter().for_each(|x| go(x, now, later)),
        Expr::List(e) => e.elts.iter().for_each(|x| go(x, now, later)),
        Expr::BinOp(e) => {
            go(&e.left, now, later);
            go(&e.right, now, later);
        }
        Expr::Call(e) => {
            go(&e.func, now, later);
            e.args.iter().for_each(|x| go(x, now, later));
        }
        Expr::Constant(c) => {
            if let Constant::Str(text) = &c.value
                && let Ok(ast::Mod::Expression(parsed)) = rustpython_parser::parse(
                    text.trim(),
                    rustpython_parser::Mode::Expression,
                    "<annotation>",
                )
            {
                let at = string_at.unwrap_or(usize::from(c.start()));
                collect_names(&parsed.body, Some(at), now, later);
            }
        }
        _ => {}
    }
}
