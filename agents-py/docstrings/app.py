"""`docstrings`: the public modules, classes, functions and methods of Python code that have no
docstring, as pydocstyle's D1 rules define them (ruff's `D100`-`D107`, the same codes, messages
and positions).

Operations: `check` (inline text, inline files, or `.py` files under paths in granted directories).
Built by `tandem build agents-py/docstrings` with componentize-py; written with the `tandem_agent`
helper.

Publicity, as pydocstyle and ruff decide it: a module is private when its name or a package above
it starts with `_` (dunders aside); a top-level class or function is public when its name does not
start with `_`, its module is public, and `__all__` (when the module defines one) lists it; a method
or nested class is public when its class is, and its name has no leading `_` (dunders are magic:
`__init__` is D107, `__call__` and `__new__` D102 and the others D105). Functions inside functions are never checked;
`@typing.overload` stubs, property setters and deleters, and `@typing.override` methods are
skipped.
"""

import ast
import os
import re

from tandem_agent import SOURCES_SCHEMA, Agent, InvalidInput, log, sources

agent = Agent(
    "docstrings",
    "Public Python modules, classes, functions and methods without a docstring (pydocstyle's D1 rules)",
    version="0.1.0",
    capabilities=["files:read"],
)


MESSAGES = {
    "D100": "Missing docstring in public module",
    "D101": "Missing docstring in public class",
    "D102": "Missing docstring in public method",
    "D103": "Missing docstring in public function",
    "D104": "Missing docstring in public package",
    "D105": "Missing docstring in magic method",
    "D106": "Missing docstring in public nested class",
    "D107": "Missing docstring in `__init__`",
}


def is_dunder(name):
    return name.startswith("__") and name.endswith("__") and len(name) > 4


# Dunders that take any arguments are documented like methods (D102), as pydocstyle has it.
VARIADIC_MAGIC = ("__init__", "__call__", "__new__")


def is_private_name(name):
    return name.startswith("_") and not is_dunder(name)


def module_parts(path, inline):
    """The module's dotted name as parts: its file name, and (for a file read from `paths`, not
    `inline`) the packages above it, directories with an `__init__.py`."""
    stem = os.path.splitext(os.path.basename(path))[0]
    parts = [stem]
    if not inline:
        parent = os.path.dirname(path)
        while parent and os.path.isfile(os.path.join(parent, "__init__.py")):
            parts.insert(0, os.path.basename(parent))
            up = os.path.dirname(parent)
            if up == parent:
                break
            parent = up
    return parts


def literal_names(value):
    """The strings of a list or tuple literal, and of each literal in a sum of them (`[...] +
    other` counts the literal's names only, as ruff does)."""
    if isinstance(value, (ast.List, ast.Tuple)):
        return [e.value for e in value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    if isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add):
        return literal_names(value.left) + literal_names(value.right)
    return []


def is_all(node):
    return isinstance(node, ast.Name) and node.id == "__all__"


def dunder_all(tree):
    """The names `__all__` lists, as ruff reads them: its assignments and `+=` at module level
    (under `if` and `try` too) and `.extend()` at the top level; None when the module does not
    define it."""
    names = None
    top_level = {id(node) for node in tree.body}
    for node in module_statements(tree.body):
        if isinstance(node, ast.Assign) and any(is_all(t) for t in node.targets):
            names = literal_names(node.value)
        elif isinstance(node, ast.AnnAssign) and is_all(node.target) and node.value is not None:
            names = literal_names(node.value)
        elif isinstance(node, ast.AugAssign) and is_all(node.target):
            names = (names or []) + literal_names(node.value)
        elif (
            id(node) in top_level
            and isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute)
            and is_all(node.value.func.value)
            and node.value.func.attr == "extend"
            and node.value.args
        ):
            names = (names or []) + literal_names(node.value.args[0])
    return names


def module_statements(body):
    """The statements of a module's body, and of the `if`, `try`, `with` and loop blocks in it,
    not those inside functions and classes."""
    for node in body:
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for field in ("body", "orelse", "finalbody"):
            children = getattr(node, field, None)
            if isinstance(children, list):
                yield from module_statements([c for c in children if isinstance(c, ast.stmt)])
        for handler in getattr(node, "handlers", None) or []:
            yield from module_statements(handler.body)
        for case in getattr(node, "cases", None) or []:
            yield from module_statements(case.body)


def decorator_names(node):
    names = []
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute):
            names.append(target.attr)
        elif isinstance(target, ast.Name):
            names.append(target.id)
    return names


def name_position(lines, node):
    """Line and column (1-based) of the definition's name, where ruff reports it."""
    keyword = "class" if isinstance(node, ast.ClassDef) else "def"
    line = lines[node.lineno - 1] if node.lineno - 1 < len(lines) else ""
    match = re.search(rf"\b{keyword}\s+({re.escape(node.name)})\b", line)
    column = match.start(1) + 1 if match else node.col_offset + 1
    return node.lineno, column


class Checker:
    def __init__(self, path, text, lines, tree):
        self.path = path
        self.lines = lines
        self.tree = tree
        self.findings = []

    def report(self, code, line, column):
        self.findings.append(
            {"file": self.path, "line": line, "column": column, "rule": code, "message": MESSAGES[code]}
        )

    def definition(self, node, kind, public):
        """Checks `node` (kind: function, method, class, nested-class), then its members."""
        line, column = name_position(self.lines, node)
        has_doc = ast.get_docstring(node, clean=False) is not None
        if isinstance(node, ast.ClassDef):
            if public and not has_doc:
                self.report("D106" if kind == "nested-class" else "D101", line, column)
            self.members(node, public)
            return
        decorators = decorator_names(node)
        if "overload" in decorators or "setter" in decorators or "deleter" in decorators:
            return
        if kind == "method":
            if "override" in decorators:
                return
            if node.name == "__init__":
                code = "D107"
            elif is_dunder(node.name) and node.name not in VARIADIC_MAGIC:
                code = "D105"
            else:
                code = "D102"
        else:
            code = "D103"
        if public and not has_doc:
            self.report(code, line, column)

    def members(self, cls, class_public):
        for child in self.walk_body(cls.body):
            if isinstance(child, ast.ClassDef):
                self.definition(child, "nested-class", class_public and not is_private_name(child.name) and not is_dunder(child.name))
            else:
                public = class_public and (not child.name.startswith("_") or is_dunder(child.name))
                self.definition(child, "method", public)

    def walk_body(self, body):
        """The definitions of a body, including those under `if`, `try`, `with` and loops, not
        those inside functions."""
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                yield node
            else:
                for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                    children = getattr(node, field, None)
                    if isinstance(children, list):
                        yield from self.walk_body(
                            [c for c in children if isinstance(c, ast.AST)]
                            if field not in ("handlers", "cases")
                            else [s for h in children for s in h.body]
                        )

    def module(self, parts):
        public_module = not any(is_private_name(p) for p in parts)
        if public_module and ast.get_docstring(self.tree, clean=False) is None:
            self.report("D104" if parts[-1] == "__init__" else "D100", 1, 1)
        listed = dunder_all(self.tree)
        for node in self.walk_body(self.tree.body):
            public = public_module and not node.name.startswith("_") and (listed is None or node.name in listed)
            self.definition(node, "class" if isinstance(node, ast.ClassDef) else "function", public)


@agent.operation(
    "check",
    "Public modules, classes, functions and methods without a docstring (D100-D107)",
    example={"text": "def f():\n    pass\n", "name": "tool.py"},
    schema={
        "type": "object",
        "additionalProperties": False,
        "properties": {
            **SOURCES_SCHEMA,
            "select": {"type": "array", "items": {"type": "string"}, "description": "codes to report (default all of D100-D107)"},
        },
    },
)
def check(input, task):
    if not isinstance(input, dict):
        raise InvalidInput("the input is an object: `text`, `files` or `paths`")
    unknown = set(input) - {"text", "name", "files", "paths", "select"}
    if unknown:
        raise InvalidInput(f"unknown field(s): {', '.join(sorted(unknown))}")
    select = input.get("select", list(MESSAGES))
    if not isinstance(select, list) or any(code not in MESSAGES for code in select):
        raise InvalidInput(f"`select` lists codes among {', '.join(MESSAGES)}")
    files = sources(input, suffix=".py", default_name="module.py")
    findings, errors = [], []
    for path, text, inline in files:
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as e:
                errors.append({"file": path, "line": None, "message": f"not UTF-8: {e.reason} at byte {e.start}"})
                continue
        # A byte order mark is not part of the code (and with a coding cookie, CPython's parser
        # refuses it).
        text = text.removeprefix("\ufeff")
        try:
            tree = ast.parse(text, filename=path)
        except SyntaxError as e:
            errors.append({"file": path, "line": e.lineno, "message": e.msg})
            continue
        checker = Checker(path, text, text.splitlines(), tree)
        checker.module(module_parts(path, inline))
        findings.extend(f for f in checker.findings if f["rule"] in select)
    log("info", "checked", files=len(files), findings=len(findings))
    by_rule = {}
    for f in findings:
        by_rule[f["rule"]] = by_rule.get(f["rule"], 0) + 1
    return {
        "findings": findings,
        "errors": errors,
        "summary": {"files": len(files), "findings": len(findings), "by_rule": by_rule},
    }


Handler, Schemas = agent.exports()
