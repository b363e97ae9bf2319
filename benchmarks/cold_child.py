"""One cold start: import a handler module, serve one invocation, report peak memory.

    python benchmarks/cold_child.py MODULE     (e.g. broker.handler, naive, powertools)
"""

import importlib
import json
import sys


def main() -> None:
    module = importlib.import_module(sys.argv[1])
    answer = module.handler({}, None)
    ok = bool(answer["Credentials"]["Username"] and answer["Credentials"]["Password"])
    print(json.dumps({"ok": ok, "maxrss_kb": peak_rss_kb()}))


def peak_rss_kb() -> int:
    """VmHWM: unlike ru_maxrss it starts afresh at exec, not at the parent's fork."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1])


if __name__ == "__main__":
    main()
