// {{ description }}

/** A greeting for `name`. */
export function greet(name) {
  return `Hello, ${name}!`;
}
