"""`{{ name }}`: {{ description }}

Operations: `greet`. Build it with `tandem build`, call it with
`target/debug/tandem run {{ name }} --op greet --input '{"name": "Ada"}'`.
"""

from tandem_agent import Agent, InvalidInput

import greeting

agent = Agent("{{ name }}", "{{ description }}", version="0.1.0")


@agent.operation(
    "greet",
    "Greets someone by name",
    deterministic=True,
    example={"name": "Ada"},
    schema={
        "type": "object",
        "properties": {"name": {"type": "string", "description": "Who to greet"}},
        "required": ["name"],
        "additionalProperties": False,
    },
)
def greet(input, task):
    try:
        return greeting.greet(input.get("name") if isinstance(input, dict) else None)
    except ValueError as e:
        raise InvalidInput(str(e))


Handler, Schemas = agent.exports()
