"""Run one double in the foreground: ``python -m tests.doubles telegram --port 8081``.

Prints the ``PREGONERO_*`` variables that point Pregonero at it, then serves until Ctrl-C
and prints what it received.
"""

from __future__ import annotations

import argparse
import threading

from tests.doubles.base import DoubleServer
from tests.doubles.graph import GraphDouble
from tests.doubles.telegram import TelegramDouble
from tests.doubles.wordpress import WordPressDouble
from tests.doubles.x import XDouble

DOUBLES: dict[str, type[DoubleServer]] = {
    "telegram": TelegramDouble,
    "x": XDouble,
    "facebook": GraphDouble,
    "wordpress": WordPressDouble,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.doubles")
    parser.add_argument("service", choices=sorted(DOUBLES))
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    double = DOUBLES[args.service]().start(args.port)
    print(f"# {args.service} double on {double.base_url}")
    for name, value in double.settings_env().items():
        print(f"export {name}='{value}'")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        double.stop()
        for request in double.requests:
            print(request.method, request.path, request.fault or "")


if __name__ == "__main__":
    main()
