// `js-complexity`: the cyclomatic complexity of each JavaScript function, class field initializer
// and class static block, counted as ESLint's `complexity` rule counts it (one, plus one per `if`,
// `?:`, `&&`/`||`/`??`, loop, `catch`, `case` with a test, default value, logical assignment and
// optional chain link), reported at the place and under the name ESLint gives.
//
// Operations: `measure` (inline `text` or `files`). Parsed with acorn, the parser ESLint's own
// (espree) is built on. Built by `tandem build agents-js/js-complexity`; written with the
// `tandem-agent` helper. The naming and head-location rules follow ESLint 9's
// `lib/rules/utils/ast-utils.js` (MIT).

import * as acorn from "acorn";
import { Agent, InvalidInput, SOURCES_SCHEMA, log, sources } from "tandem-agent";

const agent = new Agent({
  id: "js-complexity",
  description: "Cyclomatic complexity of JavaScript functions, as ESLint's complexity rule counts it",
  version: "0.1.0",
});

const SOURCE_TYPES = ["module", "script", "commonjs"];
const VARIANTS = ["classic", "modified"];
const FUNCTIONS = new Set(["FunctionDeclaration", "FunctionExpression", "ArrowFunctionExpression"]);
const LOGICAL_ASSIGNMENTS = new Set(["&&=", "||=", "??="]);

/** Whether `node` adds a path to the function it is in (ESLint's increments). */
function branches(node, variant) {
  switch (node.type) {
    case "CatchClause":
    case "ConditionalExpression":
    case "LogicalExpression":
    case "ForStatement":
    case "ForInStatement":
    case "ForOfStatement":
    case "IfStatement":
    case "WhileStatement":
    case "DoWhileStatement":
    case "AssignmentPattern":
      return true;
    case "SwitchCase":
      return variant === "classic" && node.test !== null;
    case "SwitchStatement":
      return variant === "modified";
    case "AssignmentExpression":
      return LOGICAL_ASSIGNMENTS.has(node.operator);
    case "MemberExpression":
    case "CallExpression":
      return node.optional === true;
    default:
      return false;
  }
}

/** A property key's static name (ESLint's getStaticPropertyName), or null. */
function staticName(property) {
  const key = property.key;
  if (key.type === "Identifier" && !property.computed) return key.name;
  if (key.type === "Literal") {
    if (key.value !== null) return String(key.value);
    if (key.raw === "null") return "null";
    if (key.regex) return `/${key.regex.pattern}/${key.regex.flags}`;
    if (key.bigint) return key.bigint;
    return null;
  }
  if (key.type === "TemplateLiteral" && key.expressions.length === 0 && key.quasis.length === 1) {
    return key.quasis[0].value.cooked;
  }
  return null;
}

const MEMBERS = new Set(["Property", "MethodDefinition", "PropertyDefinition"]);

/** ESLint's name of a function with its kind: "static async method 'load'", "arrow function". */
function functionName(node, parent) {
  const words = [];
  if (parent.type === "MethodDefinition" || parent.type === "PropertyDefinition") {
    if (parent.static) words.push("static");
    if (!parent.computed && parent.key.type === "PrivateIdentifier") words.push("private");
  }
  if (node.async) words.push("async");
  if (node.generator) words.push("generator");
  if (parent.type === "Property" || parent.type === "MethodDefinition") {
    if (parent.kind === "constructor") return "constructor";
    words.push(parent.kind === "get" ? "getter" : parent.kind === "set" ? "setter" : "method");
  } else if (parent.type === "PropertyDefinition") {
    words.push("method");
  } else {
    if (node.type === "ArrowFunctionExpression") words.push("arrow");
    words.push("function");
  }
  if (MEMBERS.has(parent.type)) {
    if (!parent.computed && parent.key.type === "PrivateIdentifier") {
      words.push(`#${parent.key.name}`);
    } else {
      const name = staticName(parent);
      if (name !== null) words.push(`'${name}'`);
      else if (node.id) words.push(`'${node.id.name}'`);
    }
  } else if (node.id) {
    words.push(`'${node.id.name}'`);
  }
  return words.join(" ");
}

/** Where ESLint reports a function: its member's start, an arrow's `=>`, else its own start. */
function headOffset(node, parent, source) {
  if (MEMBERS.has(parent.type)) return parent.start;
  if (node.type !== "ArrowFunctionExpression") return node.start;
  const from = node.params.length > 0 ? node.params[node.params.length - 1].end : node.start;
  let arrow = null;
  for (const token of acorn.tokenizer(source.slice(from, node.body.start), { ecmaVersion: "latest" })) {
    if (token.type === acorn.tokTypes.arrow) arrow = from + token.start;
  }
  return arrow ?? node.start;
}

/** The code paths ESLint measures in `tree`, with their complexity. */
function measureTree(tree, source, variant) {
  const found = [];
  const paths = [];
  const open = (name, offset) => {
    const path = { name, offset, complexity: 1 };
    paths.push(path);
    return path;
  };
  const visit = (node, parent) => {
    let path = null;
    if (FUNCTIONS.has(node.type)) {
      path = open(functionName(node, parent), headOffset(node, parent, source));
    } else if (node.type === "StaticBlock") {
      path = open("class static block", node.start);
    } else if (parent?.type === "PropertyDefinition" && node === parent.value) {
      path = open("class field initializer", node.start);
    }
    if (paths.length > 0 && branches(node, variant)) {
      paths[paths.length - 1].complexity += 1;
    }
    if (node.type === "PropertyDefinition" && node.value) {
      // The key belongs to the enclosing path, the value to its own (opened when visited).
      visitChildren(node, "value");
      visit(node.value, node);
    } else {
      visitChildren(node, null);
    }
    if (path !== null) {
      paths.pop();
      found.push(path);
    }
  };
  const visitChildren = (node, skip) => {
    for (const key in node) {
      if (key === skip) continue;
      const value = node[key];
      if (value === null || typeof value !== "object") continue;
      if (Array.isArray(value)) {
        for (const child of value) {
          if (child !== null && typeof child.type === "string") visit(child, node);
        }
      } else if (typeof value.type === "string") {
        visit(value, node);
      }
    }
  };
  visit(tree, null);
  return found;
}

/** The offsets at which the lines of `source` start (after \n, \r\n, \r, U+2028, U+2029). */
function lineStarts(source) {
  const starts = [0];
  const breaks = /\r\n?|[\n\u2028\u2029]/g;
  for (let m = breaks.exec(source); m !== null; m = breaks.exec(source)) {
    starts.push(m.index + m[0].length);
  }
  return starts;
}

/** `[line, column]` of `offset`, both from 1 (columns in UTF-16 code units, as ESLint counts). */
function position(starts, offset) {
  let low = 0;
  let high = starts.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (starts[middle] <= offset) low = middle;
    else high = middle - 1;
  }
  return [low + 1, offset - starts[low] + 1];
}

function upperFirst(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

agent.operation(
  {
    name: "measure",
    description: "Cyclomatic complexity of each function (ESLint's complexity rule: numbers, names and places)",
    deterministic: true,
    example: { text: "function f(x) {\n  if (x) return 1;\n  return x ?? 0;\n}\n", name: "f.js" },
    schema: {
      type: "object",
      additionalProperties: false,
      properties: {
        ...SOURCES_SCHEMA,
        min: { type: "integer", minimum: 1, description: "report only complexities at least this (default 1)" },
        source_type: { enum: SOURCE_TYPES, description: "how files parse (default module; commonjs allows a top-level return)" },
        variant: { enum: VARIANTS, description: "classic (default): each `case` counts; modified: a whole `switch` counts once" },
      },
    },
  },
  (input) => {
    if (input === null || typeof input !== "object" || Array.isArray(input)) {
      throw new InvalidInput("the input is an object: `text` or `files`, and options");
    }
    const known = new Set(["text", "name", "files", "paths", "min", "source_type", "variant"]);
    const unknown = Object.keys(input).filter((k) => !known.has(k));
    if (unknown.length > 0) throw new InvalidInput(`unknown field(s): ${unknown.sort().join(", ")}`);
    const min = input.min ?? 1;
    if (!Number.isInteger(min) || min < 1) throw new InvalidInput("`min` is an integer of at least 1");
    const sourceType = input.source_type ?? "module";
    if (!SOURCE_TYPES.includes(sourceType)) {
      throw new InvalidInput(`\`source_type\` is one of ${SOURCE_TYPES.join(", ")}`);
    }
    const variant = input.variant ?? "classic";
    if (!VARIANTS.includes(variant)) throw new InvalidInput(`\`variant\` is one of ${VARIANTS.join(", ")}`);
    const files = sources(input, "<text>");
    const functions = [];
    const errors = [];
    for (const [file, source] of files) {
      let tree;
      try {
        tree = acorn.parse(source, {
          ecmaVersion: "latest",
          sourceType: sourceType === "module" ? "module" : "script",
          allowReturnOutsideFunction: sourceType === "commonjs",
          allowHashBang: true,
        });
      } catch (e) {
        errors.push({ file, line: e.loc?.line ?? null, column: e.loc ? e.loc.column + 1 : null, message: e.message });
        continue;
      }
      const lines = lineStarts(source);
      const measured = measureTree(tree, source, variant)
        .filter((path) => path.complexity >= min)
        .map((path) => {
          const [line, column] = position(lines, path.offset);
          return { file, name: upperFirst(path.name), line, column, complexity: path.complexity };
        });
      measured.sort((a, b) => a.line - b.line || a.column - b.column);
      functions.push(...measured);
    }
    const measured = functions.map((f) => f.complexity);
    log("info", "measured", { files: files.length, functions: functions.length });
    return {
      functions,
      errors,
      summary: {
        files: files.length,
        functions: functions.length,
        average: measured.length ? Math.round((measured.reduce((a, b) => a + b, 0) / measured.length) * 100) / 100 : null,
        max: measured.length ? Math.max(...measured) : null,
      },
    };
  },
);

export const { handler, schemas } = agent.exports();
