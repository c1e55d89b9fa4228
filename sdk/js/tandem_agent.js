// tandem-agent: write a Tandem agent in JavaScript.
//
// The counterpart of the Rust SDK's `Agent` trait for guests built with componentize-js (`tandem
// build` bundles the agent with esbuild, resolving `tandem-agent` to this file, then makes the
// component): declare the agent and its operations, and export what `agent.exports()` returns.
//
//     import { Agent, InvalidInput } from "tandem-agent";
//
//     const agent = new Agent({ id: "greeter", description: "Greets people", version: "0.1.0" });
//
//     agent.operation(
//       { name: "greet", description: "Says hello", deterministic: true, example: { name: "Ada" },
//         schema: { type: "object", properties: { name: { type: "string" } }, required: ["name"] } },
//       (input, task) => {
//         if (!input.name) throw new InvalidInput("`name` is empty");
//         return { greeting: `Hello, ${input.name}!` };
//       },
//     );
//
//     export const { handler, schemas } = agent.exports();
//
// An operation receives its input decoded from JSON and the task (`task.traceId`,
// `task.timeLeftMs`, ...), and returns anything `JSON.stringify` encodes, or a promise of it (an
// `async` operation may await `fetch`, which the host judges by the agent's `[egress]` rules;
// `secret(name)` is the placeholder the host fills in for a secret). A failure is classified
// by the error thrown: `InvalidInput`, `Failed`, `Retryable`, `Denied`, `Timeout` (and
// `DependencyFailed` from `delegate`); any other error is `failed` with its name and message. Input
// that is not JSON is `invalid-input`. `log`, `delegate`, `emit` and `state` call the host;
// `sources` reads the usual input of a tool that reads code (`text` + `name`, inline `files`),
// described by `SOURCES_SCHEMA`. JavaScript guests have no filesystem: files come inline.

import { delegate as hostDelegate } from "tandem:agent/delegation@0.1.3";
import { emit as hostEmit } from "tandem:agent/events@0.1.3";
import { log as hostLog } from "tandem:agent/log@0.1.3";
import * as hostState from "tandem:agent/state@0.1.3";

/** A classified failure; throw one of its subclasses. */
export class AgentFailure extends Error {
  /** The `agent-error` case this failure is reported as. */
  get tag() {
    return "failed";
  }

  toWit() {
    return { tag: this.tag, val: this.message };
  }
}

/** The input was malformed or failed validation. Never retried. */
export class InvalidInput extends AgentFailure {
  get tag() {
    return "invalid-input";
  }
}

/** The operation failed and retrying will not help. */
export class Failed extends AgentFailure {}

/** The operation failed for a reason that may pass; the host may retry it. */
export class Retryable extends AgentFailure {
  get tag() {
    return "retryable";
  }
}

/** Something the agent needed was not granted to it. */
export class Denied extends AgentFailure {
  get tag() {
    return "denied";
  }
}

/** The agent ran out of time. */
export class Timeout extends AgentFailure {
  get tag() {
    return "timeout";
  }
}

/** A call this agent delegated failed (`error` is the host's `call-error`). */
export class DependencyFailed extends AgentFailure {
  constructor(error) {
    super(`${error.agent}.${error.operation}: ${error.kind}: ${error.message}`);
    this.error = error;
  }

  toWit() {
    return { tag: "dependency-failed", val: this.error };
  }
}

/** An agent: its id, description and version, and the operations registered on it. */
export class Agent {
  constructor({ id, description, version = "0.1.0", capabilities = [] }) {
    this.id = id;
    this.description = description;
    this.version = version;
    this.capabilities = [...capabilities];
    this.operations = new Map();
  }

  /**
   * Registers `run(input, task)` as operation `name`. `deterministic`: equal inputs give equal
   * outputs with no side effects (the host may cache results). `example`: an input shown to users.
   * `schema`: the input's JSON Schema, offered to MCP clients and shown by `tandem inspect`.
   */
  operation({ name, description, deterministic = false, example, schema }, run) {
    if (this.operations.has(name)) {
      throw new Error(`operation \`${name}\` is registered twice`);
    }
    if (typeof run !== "function") {
      throw new Error(`operation \`${name}\`: its second argument is the function that runs it`);
    }
    this.operations.set(name, { name, description, deterministic, example, schema, run });
    return this;
  }

  describe() {
    return {
      id: this.id,
      version: this.version,
      description: this.description,
      operations: [...this.operations.values()].map((op) => ({
        name: op.name,
        description: op.description,
        deterministic: op.deterministic,
        inputExample: op.example === undefined ? undefined : JSON.stringify(op.example),
      })),
      capabilities: this.capabilities,
    };
  }

  handle(task) {
    const op = this.operations.get(task.operation);
    if (op === undefined) {
      throw { tag: "unsupported-operation", val: `no operation \`${task.operation}\`` };
    }
    let input;
    try {
      input = JSON.parse(task.input);
    } catch (e) {
      throw { tag: "invalid-input", val: `input of \`${task.operation}\`: ${e.message}` };
    }
    let output;
    try {
      output = op.run(input, {
        id: Number(task.id),
        operation: task.operation,
        timeLeftMs: Number(task.timeLeftMs),
        attempt: task.attempt,
        traceId: task.traceId,
        chain: task.chain,
      });
    } catch (e) {
      throw failure(e);
    }
    // An async operation (one that awaits `fetch`, say): componentize-js runs the event loop until
    // the promise settles.
    if (output !== null && typeof output === "object" && typeof output.then === "function") {
      return output.then(
        (value) => encode(task.operation, value),
        (e) => {
          throw failure(e);
        },
      );
    }
    return encode(task.operation, output);
  }

  /** What the component exports: `export const { handler, schemas } = agent.exports();`. */
  exports() {
    return {
      handler: {
        describe: () => this.describe(),
        handle: (task) => this.handle(task),
        health: () => undefined,
      },
      schemas: {
        inputSchemas: () =>
          [...this.operations.values()]
            .filter((op) => op.schema !== undefined)
            .map((op) => [op.name, JSON.stringify(op.schema)]),
      },
    };
  }
}

/** The `agent-error` an error thrown by an operation is reported as. */
function failure(e) {
  if (e instanceof AgentFailure) {
    return e.toWit();
  }
  return { tag: "failed", val: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
}

/** An operation's output as JSON. */
function encode(operation, output) {
  let json;
  try {
    json = JSON.stringify(output);
  } catch (e) {
    throw { tag: "failed", val: `could not encode output: ${e.message}` };
  }
  if (json === undefined) {
    throw { tag: "failed", val: `\`${operation}\` returned nothing JSON can encode` };
  }
  return json;
}

/**
 * The placeholder the host replaces with secret `name` in a header of a request to a target the
 * secret is bound to (`[secrets]` in the manifest): `{ authorization: `Bearer ${secret("token")}` }`.
 */
export function secret(name) {
  return `{{secret:${name}}}`;
}

/** A log record into the host's tracing: `log("info", "scanned", { files: 3 })`. */
export function log(level, message, fields = {}) {
  hostLog(level, String(message), Object.entries(fields).map(([k, v]) => [k, String(v)]));
}

/** The value an import that failed threw: jco's `ComponentError` carries it as `payload`. */
function errorValue(e) {
  return e !== null && typeof e === "object" && "payload" in e ? e.payload : e;
}

/**
 * Calls `operation` of `agent` through the host (if the manifest grants it) and returns its
 * decoded output; a failure throws `DependencyFailed`.
 */
export function delegate(agent, operation, input) {
  let output;
  try {
    output = hostDelegate({ agent, operation, input: JSON.stringify(input) });
  } catch (e) {
    throw new DependencyFailed(errorValue(e));
  }
  return JSON.parse(output);
}

/** Publishes a custom event on the host's live event stream. */
export function emit(name, data) {
  hostEmit(name, JSON.stringify(data));
}

function stateCall(run) {
  try {
    return run();
  } catch (e) {
    const error = errorValue(e);
    throw new Failed(`state: ${error.tag}: ${error.val}`);
  }
}

/** The agent's durable key-value state; values are JSON. */
export const state = {
  get(key, fallback = undefined) {
    const raw = stateCall(() => hostState.get(key));
    return raw === undefined ? fallback : JSON.parse(new TextDecoder().decode(raw));
  },
  set(key, value) {
    stateCall(() => hostState.set(key, new TextEncoder().encode(JSON.stringify(value))));
  },
  delete(key) {
    return stateCall(() => hostState.delete(key));
  },
  keys(prefix = "") {
    return stateCall(() => hostState.keys(prefix));
  },
};

/** The JSON Schema properties of the input `sources` reads. */
export const SOURCES_SCHEMA = {
  text: { type: "string", description: "source text, reported under `name`" },
  name: { type: "string", description: "the file name of `text`" },
  files: {
    type: "array",
    description: "inline files",
    items: {
      type: "object",
      properties: { path: { type: "string" }, content: { type: "string" } },
      required: ["path", "content"],
    },
  },
};

/**
 * `[path, content]` of what `input` gives: `text` (under `name`, default `defaultName`), then the
 * inline `files`. `InvalidInput` when none is given or one is malformed.
 */
export function sources(input, defaultName = "<text>") {
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    throw new InvalidInput("the input is an object: `text` or `files`");
  }
  const found = [];
  if ("text" in input) {
    if (typeof input.text !== "string") throw new InvalidInput("`text` is a string");
    found.push([typeof input.name === "string" ? input.name : defaultName, input.text]);
  }
  const files = input.files ?? [];
  if (!Array.isArray(files)) throw new InvalidInput('`files` is a list of {"path", "content"}');
  for (const file of files) {
    if (typeof file?.path !== "string" || typeof file?.content !== "string") {
      throw new InvalidInput('each of `files` is {"path": ..., "content": ...}');
    }
    found.push([file.path, file.content]);
  }
  if ("paths" in input) {
    throw new InvalidInput("JavaScript agents read no files: give `text` or `files`");
  }
  if (found.length === 0) throw new InvalidInput("give `text` or `files`");
  return found;
}
