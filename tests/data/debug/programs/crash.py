"""Crashes the way regenerate.sh asks: crash.py key|index|chained|cause|recursion|zero|none|group."""
import asyncio
import sys


class ConfigError(Exception):
    pass


def load(config, key):
    return config[key]


def first(items):
    return items[0]


def read_port(config):
    try:
        return int(load(config, "port"))
    except KeyError:
        raise ConfigError("no port in the configuration")


def read_port_from(config):
    try:
        return int(load(config, "port"))
    except KeyError as e:
        raise ConfigError("the configuration names no port") from e


def depth(n):
    return depth(n + 1)


def mean(values):
    return sum(values) / len(values)


def name_of(user):
    return user.get("name").upper()


async def fetch(name):
    raise ConnectionRefusedError(f"[Errno 111] Connect call failed ('127.0.0.1', 1) for {name}")


async def lookup(key):
    return {"a": 1}[key]


async def gather():
    async with asyncio.TaskGroup() as group:
        group.create_task(fetch("users"))
        group.create_task(lookup("missing"))


def main(kind):
    print(f"starting {kind}")
    if kind == "key":
        load({"host": "localhost"}, "port")
    elif kind == "index":
        first([])
    elif kind == "chained":
        read_port({})
    elif kind == "cause":
        read_port_from({})
    elif kind == "recursion":
        depth(0)
    elif kind == "zero":
        mean([])
    elif kind == "group":
        asyncio.run(gather())
    else:
        name_of({})


if __name__ == "__main__":
    main(sys.argv[1])
