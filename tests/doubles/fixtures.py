"""Pytest fixtures for the service doubles (a pytest plugin module).

Use them with ``pytest_plugins = ["tests.doubles.fixtures"]`` in the root ``conftest.py``,
or import the fixture functions into a test module. Each fixture starts a fresh double on a
free port of 127.0.0.1 for one test and fails the test if the double's handlers crashed.

Settings pointing at doubles: :func:`tests.doubles.config.live_settings`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.doubles.base import DoubleServer
from tests.doubles.graph import GraphDouble
from tests.doubles.telegram import TelegramDouble
from tests.doubles.wordpress import WordPressDouble
from tests.doubles.x import XDouble


def _serve(double: DoubleServer) -> Iterator[Any]:
    with double:
        yield double
    assert not double.errors, f"{double.service} double crashed:\n" + "\n".join(double.errors)


@pytest.fixture
def telegram_double() -> Iterator[TelegramDouble]:
    yield from _serve(TelegramDouble())


@pytest.fixture
def x_double() -> Iterator[XDouble]:
    yield from _serve(XDouble())


@pytest.fixture
def graph_double() -> Iterator[GraphDouble]:
    yield from _serve(GraphDouble())


@pytest.fixture
def wordpress_double() -> Iterator[WordPressDouble]:
    yield from _serve(WordPressDouble())
