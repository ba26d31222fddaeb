"""Shared fixtures: a throw-away content folder with the shipped plan, and a way to run the
real ``pregonero`` command against it in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytest_plugins = ["tests.doubles.fixtures"]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "content" / "examples"
FOLDERS = ("inbox", "archive", "rejected", "outbox")


@dataclass
class Workspace:
    """A press office's folders in a temp dir, and the environment that points at them."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def content(self) -> Path:
        return self.root / "content"

    @property
    def inbox(self) -> Path:
        return self.content / "inbox"

    @property
    def site(self) -> Path:
        return self.root / "site"

    @property
    def outbox(self) -> Path:
        return self.content / "outbox"

    def drop_examples(self, names: list[str] | None = None) -> list[Path]:
        """Copy example files (and their media folder) into the inbox."""
        dropped = []
        media = EXAMPLES / "media"
        if media.exists():
            shutil.copytree(media, self.inbox / "media", dirs_exist_ok=True)
        for source in sorted(EXAMPLES.glob("*.md")):
            if names is None or source.name in names:
                shutil.copy2(source, self.inbox / source.name)
                dropped.append(self.inbox / source.name)
        return dropped

    def write(self, name: str, text: str | bytes) -> Path:
        path = self.inbox / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    def cli(
        self, *args: str, timeout: float = 120, check: bool = False, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "dispatcher.cli", *args],
            cwd=self.root,
            env=self.env,
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"pregonero {' '.join(args)} → {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "dispatcher.cli", *args],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def clean_env() -> dict[str, str]:
    """The current environment without any PREGONERO_* setting (tests set their own)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PREGONERO_")}


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    content = tmp_path / "content"
    for folder in FOLDERS:
        (content / folder).mkdir(parents=True)
    shutil.copy2(ROOT / "content" / "plan.yaml", content / "plan.yaml")
    env = clean_env()
    env.update(
        {
            "PREGONERO_CONTENT_DIR": str(content),
            "PREGONERO_WEBSITE__OUTPUT_DIR": str(tmp_path / "site"),
            "PREGONERO_WEBSITE__BASE_URL": "https://www.bucaramanga.gov.co/noticias/",
            "PREGONERO_INTAKE__SETTLE_SECONDS": "0",
            "PREGONERO_INTAKE__MEDIA_GRACE_SECONDS": "0",
            "PREGONERO_DELIVERY__BACKOFF_BASE": "0.05",
            "PREGONERO_LOG_LEVEL": "INFO",
        }
    )
    yield Workspace(root=tmp_path, env=env)


# -- real services ------------------------------------------------------------------------

POSTGRES_SERVER = os.environ.get(
    "PREGONERO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_SERVER = os.environ.get("PREGONERO_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def service_missing(reason: str) -> None:
    """In CI a missing service is a failure (``.ci/run`` starts them); on a user's machine
    the test is skipped with the reason."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI está definido: el servicio debe estar disponible)")
    pytest.skip(reason)


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    import secrets

    import asyncpg

    name = f"pregonero_test_{secrets.token_hex(4)}"
    try:
        admin = await asyncpg.connect(POSTGRES_SERVER, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        service_missing(f"PostgreSQL no disponible en {POSTGRES_SERVER}: {exc}")
        raise
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield POSTGRES_SERVER.rsplit("/", 1)[0] + "/" + name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The ledger's URL on each supported database: the same code must pass on both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'pregonero.db'}"
    return str(request.getfixturevalue("postgres_url"))
