"""The ``pregonero`` command line: the outermost layer. Each command parses its arguments and
calls ``dispatcher.run`` or one service function; the modules here only attach commands to
the root app (:mod:`dispatcher.cli.app`) and share :mod:`dispatcher.cli.common`.
"""

from __future__ import annotations

from dispatcher.cli import db, editors, items, mail, monitor, worker  # noqa: F401  (each attaches its commands)
from dispatcher.cli.app import app


def main() -> None:
    app()
