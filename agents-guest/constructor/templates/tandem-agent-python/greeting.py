"""What `greet` does, apart from the agent around it: plain Python, tested natively."""


def greet(name):
    """`{"greeting": "Hello, <name>!"}`; a missing or empty name is a `ValueError`."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("`name` is empty")
    return {"greeting": f"Hello, {name.strip()}!"}
