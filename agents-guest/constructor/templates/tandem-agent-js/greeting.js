// What `greet` does, apart from the agent around it: plain JavaScript, tested natively.

/** `{ greeting: "Hello, <name>!" }`; a missing or empty name is a `RangeError`. */
export function greet(name) {
  if (typeof name !== "string" || name.trim() === "") {
    throw new RangeError("`name` is empty");
  }
  return { greeting: `Hello, ${name.trim()}!` };
}
