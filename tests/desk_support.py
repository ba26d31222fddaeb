"""The web desk under test: ``serve``'s app run for real (uvicorn in a thread) on a temp
content folder and ledger, editors registered, pieces taken in; an httpx client that
signs in like a browser (cookie, CSRF token from the form)."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from dispatcher.services import editors
from dispatcher.services.context import App, build_app
from dispatcher.services.ingest import Tally, make_intake, record
from dispatcher.web.unsubscribe import create_app
from settings import Settings, load_settings
from tests.test_bot_support import content_file, plan_with_approvals
from tests.test_mailing_support import free_port

PASSWORD = "clave-de-prueba-1"
WAITING = "licitacion-vias"  # contratacion: two editors must approve
READY = "ciclorruta-27"  # boletin: no approval
TOKEN = re.compile(r'name="csrf" value="([^"]+)"')


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """``serve``'s app under uvicorn on a free 127.0.0.1 port; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def desk_settings(root: Path, **overrides: Any) -> Settings:
    content = root / "content"
    for folder in ("inbox", "archive", "rejected", "outbox"):
        (content / folder).mkdir(parents=True, exist_ok=True)
    plan_with_approvals(content / "plan.yaml")
    sections: dict[str, Any] = {
        "intake": {"settle_seconds": 0, "media_grace_seconds": 0},
        "website": {
            "output_dir": root / "site",
            "base_url": "https://www.bucaramanga.gov.co/noticias/",
        },
        "delivery": {"backoff_base": 0.05},
        # the desk is reached over http here: no Secure cookie (the website itself is https)
        "web": {"public_url": "http://localhost:8080"},
    }
    sections.update(overrides)
    return load_settings(
        content_dir=content, database_url=f"sqlite:///{root / 'pregonero.db'}", **sections
    )


async def take(app: App, item_id: str, kind: str = "contratacion", **fields: str) -> None:
    """Takes in a piece written by ``content_file`` (``fields``: its title, extra, body)."""
    path = app.settings.content_dir / f"{item_id}.md"
    path.write_bytes(content_file(item_id, kind=kind, **fields))
    event = await asyncio.to_thread(make_intake(app).take_file, path)
    await record(app, event, Tally())


@dataclass
class Desk:
    app: App
    base: str

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, follow_redirects=False, timeout=30)


@asynccontextmanager
async def running_desk(root: Path, **overrides: Any) -> AsyncIterator[Desk]:
    """Two editors (``ana``, admin with Telegram id 111; ``luis``, editor), a piece that
    waits for two approvals and one ready to go out, and the desk serving them."""
    settings = desk_settings(root, **overrides)
    app = await build_app(settings)
    try:
        await editors.add(
            app.ledger, "ana", name="Ana Gómez", password=PASSWORD, telegram_id=111, role="admin"
        )
        await editors.add(app.ledger, "luis", name="Luis Díaz", password=PASSWORD)
        await take(app, WAITING, "contratacion", title="Licitación de vías")
        await take(app, READY, "boletin", title="Nueva ciclorruta en la carrera 27")
        with serving(settings) as base:
            yield Desk(app, base)
    finally:
        await app.aclose()


async def form_token(http: httpx.AsyncClient, path: str) -> str:
    page = await http.get(path)
    assert page.status_code == 200, (path, page.status_code)
    found = TOKEN.search(page.text)
    assert found, f"no CSRF field in {path}"
    return found.group(1)


async def sign_in(http: httpx.AsyncClient, user: str, password: str = PASSWORD) -> httpx.Response:
    token = await form_token(http, "/entrar")
    return await http.post("/entrar", data={"usuario": user, "clave": password, "csrf": token})
