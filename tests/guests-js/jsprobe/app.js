// `jsprobe`: a JavaScript test guest that tries what a hostile or careless agent would, so the
// tests can see the host hold its limits and grants: it spins, grows its heap, delegates without a
// grant, throws, uses its state, and fetches what it is told to (with a secret's placeholder).

import { Agent, Denied, Retryable, delegate, emit, secret, state } from "tandem-agent";

const agent = new Agent({ id: "jsprobe", description: "Probes the host's limits from JavaScript" });

agent.operation({ name: "spin", description: "Loops forever" }, () => {
  let n = 0;
  for (;;) n += 1;
});

agent.operation({ name: "grow", description: "Allocates until something stops it" }, () => {
  const kept = [];
  for (;;) kept.push(new Array(1 << 20).fill(kept.length));
});

agent.operation({ name: "recurse", description: "Recurses without end" }, () => {
  const down = (n) => down(n + 1) + 1;
  return down(0);
});

agent.operation({ name: "delegate", description: "Calls echo.echo" }, (input) =>
  delegate("echo", "echo", input),
);

agent.operation({ name: "fail", description: "Throws what `kind` names" }, ({ kind }) => {
  if (kind === "denied") throw new Denied("not for you");
  if (kind === "retryable") throw new Retryable("try later");
  if (kind === "type") return null.field;
  throw "a bare string";
});

agent.operation({ name: "count", description: "Adds one to a counter in its state" }, () => {
  const count = state.get("count", 0) + 1;
  state.set("count", count);
  emit("counted", { count });
  return { count, keys: state.keys("") };
});


agent.operation(
  { name: "fetch", description: "Fetches `url`, with `Authorization: Bearer <secret token>`" },
  async ({ url }) => {
    const response = await fetch(url, { headers: { authorization: `Bearer ${secret("token")}` } });
    return { status: response.status, body: await response.text() };
  },
);

agent.operation(
  { name: "fetch-all", description: "Fetches every URL of `urls` at once; says what became of each" },
  async ({ urls }) =>
    Promise.all(
      urls.map((url) =>
        fetch(url).then(
          (response) => response.status,
          (error) => `${error.name}`,
        ),
      ),
    ),
);

export const { handler, schemas } = agent.exports();
