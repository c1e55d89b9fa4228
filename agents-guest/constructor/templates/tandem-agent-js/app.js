// `{{ name }}`: {{ description }}
//
// Operations: `greet`. Build it with `tandem build`, call it with
// `target/debug/tandem run {{ name }} --op greet --input '{"name": "Ada"}'`.

import { Agent, InvalidInput } from "tandem-agent";

import { greet } from "./greeting.js";

const agent = new Agent({ id: "{{ name }}", description: "{{ description }}", version: "0.1.0" });

agent.operation(
  {
    name: "greet",
    description: "Greets someone by name",
    deterministic: true,
    example: { name: "Ada" },
    schema: {
      type: "object",
      properties: { name: { type: "string", description: "Who to greet" } },
      required: ["name"],
      additionalProperties: false,
    },
  },
  (input) => {
    try {
      return greet(input?.name);
    } catch (e) {
      if (e instanceof RangeError) throw new InvalidInput(e.message);
      throw e;
    }
  },
);

export const { handler, schemas } = agent.exports();
