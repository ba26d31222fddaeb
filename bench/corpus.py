"""The content file every intake/delivery benchmark drops: a daily bulletin (five channels
in the shipped plan: website, facebook, x, telegram, mailing)."""

from __future__ import annotations


def content(i: int) -> str:
    return (
        "---\n"
        "kind: boletin\n"
        f"title: Boletín de prueba número {i} sobre obras en Bucaramanga\n"
        f"id: bench-{i:05d}\n"
        "date: 2026-11-26\n"
        "tags: [Obras, Movilidad]\n"
        "---\n\n"
        f"La Alcaldía de Bucaramanga informa el avance número {i} de las obras.\n\n"
        "Segundo párrafo con **énfasis** y un [enlace](https://www.bucaramanga.gov.co/).\n"
    )
