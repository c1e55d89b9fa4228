"""tandem_agent: write a Tandem agent in Python.

The counterpart of the Rust SDK's `Agent` trait for guests built with componentize-py (`tandem build`
does it): declare the agent and its operations, and export the result as `Handler` and `Schemas`.

    from tandem_agent import Agent, InvalidInput

    agent = Agent("greeter", "Greets people", version="0.1.0")

    @agent.operation("greet", "Says hello", deterministic=True, example={"name": "Ada"},
                     schema={"type": "object", "properties": {"name": {"type": "string"}},
                             "required": ["name"]})
    def greet(input, task):
        if not input.get("name"):
            raise InvalidInput("`name` is empty")
        return {"greeting": f"Hello, {input['name']}!"}

    Handler, Schemas = agent.exports()

An operation receives its input decoded from JSON and the task (`task.trace_id`,
`task.time_left_ms`, ...), and returns anything `json.dumps` encodes. A failure is classified by the
exception raised: `InvalidInput`, `Failed`, `Retryable`, `Denied`, `Timeout` (and `DependencyFailed`
from `delegate`); any other exception is `failed` with its type and message. Input that is not JSON
is `invalid-input`. `log`, `delegate`, `emit` and `state` call the host; `read_files` reads the
files under paths in the granted directories, bounded; `sources` reads the usual input of a tool
that reads code (`text` + `name`, inline `files`, `paths`), described by `SOURCES_SCHEMA`.
"""

import json
import os

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import delegation, events, types
from wit_world.imports import log as _log
from wit_world.imports import state as _state

__all__ = [
    "Agent",
    "AgentFailure",
    "InvalidInput",
    "Failed",
    "Retryable",
    "Denied",
    "Timeout",
    "DependencyFailed",
    "log",
    "delegate",
    "emit",
    "state",
    "read_files",
    "sources",
    "SOURCES_SCHEMA",
]


class AgentFailure(Exception):
    """A classified failure; raise one of its subclasses."""

    def to_wit(self):
        return types.AgentError_Failed(str(self))


class InvalidInput(AgentFailure):
    """The input was malformed or failed validation. Never retried."""

    def to_wit(self):
        return types.AgentError_InvalidInput(str(self))


class Failed(AgentFailure):
    """The operation failed and retrying will not help."""


class Retryable(AgentFailure):
    """The operation failed for a reason that may pass; the host may retry it."""

    def to_wit(self):
        return types.AgentError_Retryable(str(self))


class Denied(AgentFailure):
    """Something the agent needed was not granted to it."""

    def to_wit(self):
        return types.AgentError_Denied(str(self))


class Timeout(AgentFailure):
    """The agent ran out of time."""

    def to_wit(self):
        return types.AgentError_Timeout(str(self))


class DependencyFailed(AgentFailure):
    """A call this agent delegated failed (`error` is the host's `CallError`)."""

    def __init__(self, error):
        super().__init__(f"{error.agent}.{error.operation}: {error.kind.name.lower()}: {error.message}")
        self.error = error

    def to_wit(self):
        return types.AgentError_DependencyFailed(self.error)


class _Operation:
    def __init__(self, name, description, function, deterministic, example, schema):
        self.name = name
        self.description = description
        self.function = function
        self.deterministic = deterministic
        self.example = example
        self.schema = schema


class Agent:
    """An agent: its id, description and version, and the operations registered on it."""

    def __init__(self, id, description, version="0.1.0", capabilities=()):
        self.id = id
        self.description = description
        self.version = version
        self.capabilities = list(capabilities)
        self._operations = {}

    def operation(self, name, description, deterministic=False, example=None, schema=None):
        """Registers the decorated function `f(input, task)` as operation `name`.

        `deterministic`: equal inputs give equal outputs with no side effects (the host may cache
        results). `example`: an input shown to users. `schema`: the input's JSON Schema (a dict),
        offered to MCP clients and shown by `tandem inspect`.
        """

        def register(function):
            if name in self._operations:
                raise ValueError(f"operation `{name}` is registered twice")
            self._operations[name] = _Operation(
                name, description, function, deterministic, example, schema
            )
            return function

        return register

    def _info(self):
        operations = [
            types.OperationInfo(
                name=op.name,
                description=op.description,
                deterministic=op.deterministic,
                input_example=None if op.example is None else json.dumps(op.example),
            )
            for op in self._operations.values()
        ]
        return types.AgentInfo(
            id=self.id,
            version=self.version,
            description=self.description,
            operations=operations,
            capabilities=self.capabilities,
        )

    def _handle(self, task):
        op = self._operations.get(task.operation)
        if op is None:
            raise Err(types.AgentError_UnsupportedOperation(f"no operation `{task.operation}`"))
        try:
            value = json.loads(task.input)
        except ValueError as e:
            raise Err(types.AgentError_InvalidInput(f"input of `{task.operation}`: {e}"))
        try:
            output = op.function(value, task)
        except AgentFailure as e:
            raise Err(e.to_wit())
        except Err:
            raise
        except RecursionError as e:
            raise Err(types.AgentError_Failed(f"RecursionError: {e}"))
        except Exception as e:
            raise Err(types.AgentError_Failed(f"{type(e).__name__}: {e}"))
        try:
            return json.dumps(output)
        except (TypeError, ValueError) as e:
            raise Err(types.AgentError_Failed(f"could not encode output: {e}"))

    def exports(self):
        """The classes componentize-py exports: assign them to `Handler, Schemas` in `app.py`."""
        agent = self

        class Handler(exports.Handler):
            def describe(self):
                return agent._info()

            def handle(self, task):
                return agent._handle(task)

            def health(self):
                return None

        class Schemas(exports.Schemas):
            def input_schemas(self):
                return [
                    (op.name, json.dumps(op.schema))
                    for op in agent._operations.values()
                    if op.schema is not None
                ]

        return Handler, Schemas


_LEVELS = {
    "trace": _log.Level.TRACE,
    "debug": _log.Level.DEBUG,
    "info": _log.Level.INFO,
    "warn": _log.Level.WARN,
    "error": _log.Level.ERROR,
}


def log(level, message, **fields):
    """A log record into the host's tracing: `log("info", "scanned", files=3)`."""
    _log.log(_LEVELS[level], message, [(k, str(v)) for k, v in fields.items()])


def delegate(agent, operation, input):
    """Calls `operation` of `agent` through the host (if the manifest grants it) and returns its
    decoded output; a failure raises `DependencyFailed`."""
    try:
        output = delegation.delegate(delegation.Call(agent, operation, json.dumps(input)))
    except Err as e:
        raise DependencyFailed(e.value)
    return json.loads(output)


def emit(name, data):
    """Publishes a custom event on the host's live event stream."""
    events.emit(name, json.dumps(data))


class _State:
    """The agent's durable key-value state; values are JSON."""

    @staticmethod
    def _call(function, *args):
        try:
            return function(*args)
        except Err as e:
            raise Failed(f"state: {type(e.value).__name__.split('_')[-1]}: {e.value.value}")

    def get(self, key, default=None):
        raw = self._call(_state.get, key)
        return default if raw is None else json.loads(raw)

    def set(self, key, value):
        self._call(_state.set, key, json.dumps(value).encode())

    def delete(self, key):
        return self._call(_state.delete, key)

    def keys(self, prefix=""):
        return self._call(_state.keys, prefix)


state = _State()


def read_files(paths, suffix="", max_files=10_000, max_bytes=64 * 1024 * 1024):
    """`(path, bytes)` of the files at `paths` (files, or directories walked in name order) whose
    names end with `suffix`, at most `max_files` of them and `max_bytes` in all (`InvalidInput`
    past either). A path outside the granted directories, or missing, is `Denied`."""
    files, total = [], 0
    for path in paths:
        if not isinstance(path, str) or not path:
            raise InvalidInput("`paths` holds file or directory paths (strings)")
        if os.path.isdir(path):
            walked = []
            for root, dirs, names in os.walk(path):
                dirs.sort()
                walked.extend(os.path.join(root, n) for n in sorted(names) if n.endswith(suffix))
        elif os.path.isfile(path):
            walked = [path]
        else:
            raise Denied(f"cannot read {path}: not found, or not in a granted directory")
        for file in walked:
            if len(files) >= max_files:
                raise InvalidInput(f"more than {max_files} files under `paths`")
            try:
                with open(file, "rb") as f:
                    data = f.read(max_bytes - total + 1)
            except OSError as e:
                raise Denied(f"cannot read {file}: {e.strerror or e}")
            total += len(data)
            if total > max_bytes:
                raise InvalidInput(f"the files under `paths` are over {max_bytes} bytes")
            files.append((file, data))
    return files


# The JSON Schema properties of the input `sources` reads.
SOURCES_SCHEMA = {
    "text": {"type": "string", "description": "source text, reported under `name`"},
    "name": {"type": "string", "description": "the file name of `text`"},
    "files": {
        "type": "array",
        "description": "inline files",
        "items": {
            "type": "object",
            "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
            "required": ["path", "content"],
        },
    },
    "paths": {
        "type": "array",
        "items": {"type": "string"},
        "description": "files, or directories walked, in granted directories",
    },
}


def sources(input, suffix="", default_name="<text>"):
    """`(path, content, inline)` of what `input` gives: `text` (under `name`, default
    `default_name`) and inline `files` (content a str, inline True), then the files under `paths`
    whose names end with `suffix` (content bytes, inline False). `InvalidInput` when none is given
    or one is malformed."""
    found = []
    if "text" in input:
        if not isinstance(input["text"], str):
            raise InvalidInput("`text` is a string")
        found.append((input.get("name", default_name), input["text"], True))
    for file in input.get("files", []):
        if not isinstance(file, dict) or not isinstance(file.get("path"), str) or not isinstance(file.get("content"), str):
            raise InvalidInput('each of `files` is {"path": ..., "content": ...}')
        found.append((file["path"], file["content"], True))
    found.extend((path, data, False) for path, data in read_files(input.get("paths", []), suffix))
    if not found:
        raise InvalidInput("give `text`, `files` or `paths`")
    return found
