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

With `[[egress.allow]]` rules in its manifest, an agent may `fetch(url, ...)` over `wasi:http`: the
host judges every request (and every redirect followed) by the rules, and fills in `secret(name)`,
the placeholder of a secret bound to the rule, so the agent never holds the value. A refused request
raises `Denied`, a cut one `Timeout` or `Failed`, an unreachable server `Retryable`.
"""

import json
import os

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import delegation, events

try:
    from wit_world.imports import types
except ImportError:  # the world with `wasi:http`, whose own `types` takes the plain name
    from wit_world.imports import tandem_agent_types as types

# `wasi:http`, in agents built for egress. Imported here, while the component is made: a guest has
# no files to import a module from later.
try:
    from wit_world.imports import outgoing_handler as _outgoing_handler
    from wit_world.imports import streams as _streams
    from wit_world.imports import wasi_http_types as _http
except ImportError:
    _outgoing_handler = None
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
    "fetch",
    "secret",
    "Response",
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


# Outbound HTTP (`[egress]`): a blocking client over `wasi:http`, which only an agent granted egress
# is built with (`tandem build` reads its manifest).


def secret(name):
    """The placeholder the host replaces with secret `name` in a header of a request to a target
    the secret is bound to: `headers={"authorization": "Bearer " + secret("token")}`."""
    return "{{secret:%s}}" % name


class Response:
    """A response, its body read whole: `status`, `headers` (lower-case names, in order), `body`
    (bytes), `url` (the last of the redirects followed)."""

    def __init__(self, status, headers, body, url):
        self.status, self.headers, self.body, self.url = status, headers, body, url

    def header(self, name):
        """The first value of header `name` (any case), or None."""
        name = name.lower()
        return next((v for n, v in self.headers if n.lower() == name), None)

    def text(self):
        return self.body.decode("utf-8")

    def json(self):
        return json.loads(self.body)


_REDIRECTS = (301, 302, 303, 307, 308)


def fetch(url, method="GET", headers=None, body=b"", timeout=None, redirects=5):
    """Sends `method url` with `headers` (a dict or (name, value) pairs) and `body` (bytes or str),
    follows up to `redirects` redirects (each judged by the host; `Authorization` is not carried to
    another host) and returns the `Response`. `timeout` (seconds) bounds connecting and each wait;
    the manifest's own timeout and the call's deadline bound it too."""
    method = method.upper()
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    payload = body.encode() if isinstance(body, str) else bytes(body)
    followed = 0
    while True:
        response = _send(method, url, pairs, payload, timeout)
        location = response.header("location")
        if response.status not in _REDIRECTS or location is None or redirects == 0:
            return response
        if followed == redirects:
            raise Failed(f"{method} {url}: more than {redirects} redirects")
        followed += 1
        scheme, authority, path = _split_url(url)
        if "://" in location:
            target = location
        elif location.startswith("//"):
            target = scheme + ":" + location
        elif location.startswith("/"):
            target = f"{scheme}://{authority}{location}"
        else:
            directory = path.split("?")[0].rsplit("/", 1)[0]
            target = f"{scheme}://{authority}{directory}/{location}"
        if response.status == 303 or (response.status in (301, 302) and method == "POST"):
            method, payload = "GET", b""
            pairs = [(n, v) for n, v in pairs if n.lower() not in ("content-type", "content-length")]
        if _split_url(target)[1].lower() != authority.lower():
            pairs = [(n, v) for n, v in pairs if n.lower() != "authorization"]
        url = target


def _split_url(url):
    """`(scheme, authority, path?query)` of an absolute http(s) URL, the fragment dropped."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        raise Failed(f"`{url}` is not an http(s) URL")
    rest = rest.split("#")[0]
    cut = min([i for i in (rest.find("/"), rest.find("?")) if i >= 0], default=len(rest))
    authority, path = rest[:cut], rest[cut:] or "/"
    if not authority:
        raise Failed(f"`{url}` has no host")
    return scheme.lower(), authority, path


def _send(method, url, pairs, payload, timeout):
    what = f"{method} {url}"
    if _outgoing_handler is None:
        raise Denied(
            f"{what}: this agent was built without `wasi:http`: give its manifest "
            "[[egress.allow]] rules and build it again"
        )
    http, streams, outgoing_handler = _http, _streams, _outgoing_handler
    scheme, authority, path = _split_url(url)
    fields = http.Fields()
    has_length = any(n.lower() == "content-length" for n, _ in pairs)
    if not has_length and (payload or method in ("POST", "PUT", "PATCH")):
        fields.append("content-length", str(len(payload)).encode())
    for name, value in pairs:
        try:
            fields.append(name, value.encode() if isinstance(value, str) else bytes(value))
        except Err as e:
            raise Failed(f"{what}: header `{name}` is not valid ({type(e.value).__name__})")
    request = http.OutgoingRequest(fields)
    known = {
        "GET": http.Method_Get(), "HEAD": http.Method_Head(), "POST": http.Method_Post(),
        "PUT": http.Method_Put(), "DELETE": http.Method_Delete(), "PATCH": http.Method_Patch(),
        "OPTIONS": http.Method_Options(),
    }
    try:
        request.set_method(known.get(method) or http.Method_Other(method))
        request.set_scheme(http.Scheme_Https() if scheme == "https" else http.Scheme_Http())
        request.set_authority(authority)
        request.set_path_with_query(path)
    except Err:
        raise Failed(f"{what}: not a request HTTP allows")
    options = None
    if timeout is not None:
        nanos = int(timeout * 1e9)
        options = http.RequestOptions()
        options.set_connect_timeout(nanos)
        options.set_first_byte_timeout(nanos)
        options.set_between_bytes_timeout(nanos)
    outgoing = request.body()
    try:
        pending = outgoing_handler.handle(request, options)
    except Err as e:
        raise _http_error(what, e.value)
    # The body goes after `handle`: the host reads it while it sends. A refused request closes it;
    # its reason comes with the response.
    try:
        with outgoing.write() as stream:
            for start in range(0, len(payload), 4096):
                stream.blocking_write_and_flush(payload[start : start + 4096])
    except Err:
        pass
    http.OutgoingBody.finish(outgoing, None)
    with pending:
        with pending.subscribe() as ready:
            ready.block()
        result = pending.get()
    if result is None or isinstance(result, Err):
        raise Failed(f"{what}: the host gave no response")
    if isinstance(result.value, Err):
        raise _http_error(what, result.value.value)
    with result.value.value as incoming:
        status = incoming.status()
        with incoming.headers() as fields:
            headers = [(n, v.decode("utf-8", "replace")) for n, v in fields.entries()]
        chunks = []
        with incoming.consume() as body:
            with body.stream() as stream:
                while True:
                    try:
                        chunks.append(stream.blocking_read(65536))
                    except Err as e:
                        if isinstance(e.value, streams.StreamError_Closed):
                            break
                        error = e.value.value
                        code = http.http_error_code(error)
                        if code is not None:
                            raise _http_error(what, code)
                        raise _body_error(what, error.to_debug_string())
    return Response(status, headers, b"".join(chunks), url)


def _body_error(what, text):
    """An error reading the response body. wasmtime 48 hands these over without their error code,
    so they are told apart by the host's text."""
    if "response body size exceeds limit" in text:
        return Failed(f"{what}: the response body is over the agent's max-response-bytes")
    if "timeout" in text:
        return Timeout(f"{what}: timed out reading the body")
    return Failed(f"{what}: reading the body: {text}")


def _http_error(what, code):
    """The host's `error-code` as the failure it means."""
    name = type(code).__name__.removeprefix("ErrorCode_")
    if name == "HttpRequestDenied":
        return Denied(f"{what}: the host's [egress] rules refuse it")
    if name == "DestinationIpProhibited":
        return Denied(f"{what}: its host resolves to an address its [egress] rule does not allow")
    if name in ("ConnectionTimeout", "ConnectionReadTimeout", "ConnectionWriteTimeout",
                "HttpResponseTimeout", "DnsTimeout"):
        return Timeout(f"{what}: timed out ({name})")
    if name == "HttpRequestBodySize":
        return Failed(f"{what}: the request body is over the agent's max-request-bytes")
    if name == "HttpResponseBodySize":
        return Failed(f"{what}: the response body is over the agent's max-response-bytes")
    if name in ("DnsError", "DestinationNotFound", "DestinationUnavailable",
                "DestinationIpUnroutable", "ConnectionRefused", "ConnectionTerminated",
                "ConnectionLimitReached", "TlsProtocolError", "TlsCertificateError",
                "TlsAlertReceived"):
        return Retryable(f"{what}: cannot reach the server ({name})")
    return Failed(f"{what}: {name}")
