import assert from "node:assert/strict";
import { test } from "node:test";

import { greet } from "./greeting.js";

test("greets by name", () => {
  assert.deepEqual(greet("Ada"), { greeting: "Hello, Ada!" });
});

test("refuses an empty name", () => {
  assert.throws(() => greet("  "), RangeError);
});
