"""`complexity`: the cyclomatic complexity of each Python function and method, as radon's `cc`
counts it (McCabe: one plus each decision point; radon's ranks A to F).

Operations: `measure` (inline text, inline files, or `.py` files under paths in granted
directories). Built by `tandem build agents-py/complexity` with componentize-py; written with the
`tandem_agent` helper.
"""

import ast

from tandem_agent import SOURCES_SCHEMA, Agent, InvalidInput, log, sources

agent = Agent(
    "complexity",
    "Cyclomatic complexity of Python functions and methods, as radon counts it",
    version="0.1.0",
    capabilities=["files:read"],
)



class Counter(ast.NodeVisitor):
    """Decision points of one statement (radon's ComplexityVisitor, counting from 0): nested
    functions and classes are blocks of their own and add nothing."""

    def __init__(self, no_assert):
        self.complexity = 0
        self.no_assert = no_assert
        self.nested = []

    def generic_visit(self, node):
        name = type(node).__name__
        if name == "Try":
            self.complexity += len(node.handlers) + bool(node.orelse)
        elif name == "BoolOp":
            self.complexity += len(node.values) - 1
        elif name in ("If", "IfExp"):
            self.complexity += 1
        elif name == "Match":
            wildcard = any(getattr(case.pattern, "pattern", False) is None for case in node.cases)
            self.complexity += max(0, len(node.cases) - wildcard)
        elif name in ("For", "While", "AsyncFor"):
            self.complexity += bool(node.orelse) + 1
        elif name == "comprehension":
            self.complexity += len(node.ifs) + 1
        super().generic_visit(node)

    def visit_Assert(self, node):
        self.complexity += not self.no_assert

    def visit_FunctionDef(self, node):
        self.nested.append(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        self.nested.append(node)


def rank(complexity):
    """radon's letter: A (1-5), B (6-10), C (11-20), D (21-30), E (31-40), F (41 and more)."""
    for letter, top in (("A", 5), ("B", 10), ("C", 20), ("D", 30), ("E", 40)):
        if complexity <= top:
            return letter
    return "F"


def function_block(node, classname, no_assert):
    complexity = 1
    last = node.lineno
    for child in node.body:
        counter = Counter(no_assert)
        counter.visit(child)
        complexity += counter.complexity
        last = max(last, max((getattr(n, "lineno", 0) for n in ast.walk(child)), default=0))
    name = f"{classname}.{node.name}" if classname else node.name
    return {
        "name": name,
        "kind": "method" if classname else "function",
        "line": node.lineno,
        "end_line": last,
        "complexity": complexity,
        "rank": rank(complexity),
    }


class Blocks(ast.NodeVisitor):
    """The functions and methods radon's `cc` lists: functions anywhere outside a function or
    class (inside a module-level `if` or `try` too), and the methods of those classes (inside their
    `if`s too). Closures belong to their function, and a class inside a class is not listed, nor
    are its methods."""

    def __init__(self, classname, no_assert, found):
        self.classname = classname
        self.no_assert = no_assert
        self.found = found

    def visit_FunctionDef(self, node):
        self.found.append(function_block(node, self.classname, self.no_assert))

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        if self.classname is None:
            for child in node.body:
                Blocks(node.name, self.no_assert, self.found).visit(child)


def blocks(tree, no_assert):
    found = []
    Blocks(None, no_assert, found).visit(tree)
    return found


@agent.operation(
    "measure",
    "Cyclomatic complexity of each function and method (radon cc's numbers and ranks)",
    example={"text": "def f(x):\n    if x:\n        return 1\n    return 0\n", "name": "f.py"},
    schema={
        "type": "object",
        "additionalProperties": False,
        "properties": {
            **SOURCES_SCHEMA,
            "min": {"type": "integer", "minimum": 1, "description": "report only complexities at least this (default 1)"},
            "no_assert": {"type": "boolean", "description": "do not count `assert` (radon's --no-assert)"},
        },
    },
)
def measure(input, task):
    if not isinstance(input, dict):
        raise InvalidInput("the input is an object: `text`, `files` or `paths`")
    unknown = set(input) - {"text", "name", "files", "paths", "min", "no_assert"}
    if unknown:
        raise InvalidInput(f"unknown field(s): {', '.join(sorted(unknown))}")
    minimum = input.get("min", 1)
    if not isinstance(minimum, int) or minimum < 1:
        raise InvalidInput("`min` is an integer of at least 1")
    no_assert = bool(input.get("no_assert", False))
    files = [
        (path, text if inline else text.decode("utf-8", errors="replace"))
        for path, text, inline in sources(input, suffix=".py")
    ]
    results, errors = [], []
    for path, text in files:
        try:
            tree = ast.parse(text, filename=path)
        except SyntaxError as e:
            errors.append({"file": path, "line": e.lineno, "message": e.msg})
            continue
        for block in blocks(tree, no_assert):
            if block["complexity"] >= minimum:
                results.append({"file": path, **block})
    measured = [r["complexity"] for r in results]
    log("info", "measured", files=len(files), functions=len(results))
    return {
        "functions": results,
        "errors": errors,
        "summary": {
            "files": len(files),
            "functions": len(results),
            "average": round(sum(measured) / len(measured), 2) if measured else None,
            "max": max(measured) if measured else None,
        },
    }


Handler, Schemas = agent.exports()
