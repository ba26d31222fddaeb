"""Bad content files, each with the field and file line its refusal must name.

Shared by the parser and intake tests. A case whose ``media`` maps a name to bytes needs
those files beside it; symlink cases are built by the tests themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
KINDS = frozenset({"boletin", "rueda_de_prensa", "comite", "campana"})
MAX_BYTES = 20_000


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    field: str | None
    line: int | None
    words: tuple[str, ...] = ()  # Spanish words the message must contain
    media: dict[str, bytes] = field(default_factory=dict)


def md(front: str, body: str = "Texto del boletín.\n") -> bytes:
    return f"---\n{front}---\n{body}".encode()


BAD = [
    Case("yaml_roto.md", md("kind: boletin\ntitle: Obras: fase dos\n"), None, 3, ("cabecera",)),
    Case("yaml_tab.md", md("kind: boletin\ntitle: Hola mundo\n\tdependencia: x\n"), None, 4),
    Case("sin_titulo.md", md("kind: boletin\ntags: [obras]\n"), "title", 1, ("falta",)),
    Case(
        "tipo_desconocido.md",
        md("kind: boletn\ntitle: Cierre de vías\n"),
        "kind",
        2,
        ("tipo desconocido", "boletin"),
    ),
    Case(
        "clave_errada.md",
        md("kind: boletin\ntitle: Cierre de vías\nsumary: corto\n"),
        "sumary",
        4,
        ("desconocido", "¿quiso decir 'summary'?"),
    ),
    Case(
        "ruta_fuera.md",
        md("kind: boletin\ntitle: Cierre de vías\nimage: ../fuera.png\nimage_alt: Una vía\n"),
        "image",
        4,
        ("..",),
    ),
    Case(
        "ruta_absoluta.md",
        md("kind: boletin\ntitle: Cierre de vías\nattachments:\n  - anexo.pdf\n  - /etc/passwd\n"),
        "attachments[1]",
        6,
        ("relativa",),
        {"anexo.pdf": b"%PDF-1.4 anexo"},
    ),
    Case(
        "no_utf8.md",
        b"---\nkind: boletin\ntitle: Canci\xf3n de la ciudad\n---\nTexto\n",
        None,
        3,
        ("UTF-8",),
    ),
    Case("vacio.md", b"", None, None, ("vacío",)),
    Case(
        "enorme.md",
        md("kind: boletin\ntitle: Grande\n", "x" * (MAX_BYTES + 10)),
        None,
        None,
        ("máximo",),
    ),
    Case(
        "imagen_sin_alt.md",
        md("kind: boletin\ntitle: Cierre de vías\ndependencia: Movilidad\nimage: sin-alt.png\n"),
        "image_alt",
        5,
        ("descripción",),
        {"sin-alt.png": PNG},
    ),
    Case(
        "rueda_sin_evento.md",
        md("title: Rueda de prensa\nkind: rueda_de_prensa\n"),
        "event",
        3,
        ("event",),
    ),
    Case(
        "fecha_mala.md",
        md("kind: boletin\ntitle: Cierre de vías\n\npublish_at: 2026-02-30 10:00\n"),
        "publish_at",
        5,
        ("fecha",),
    ),
    Case(
        "evento_malo.md",
        md("kind: rueda_de_prensa\ntitle: Rueda\nevent:\n  place: CAM\n  starts_at: mañana\n"),
        "event.starts_at",
        6,
        ("fecha",),
    ),
    Case(
        "clave_repetida.md",
        md("kind: boletin\ntitle: Uno\ntitle: Dos\n"),
        "title",
        4,
        ("repetida",),
    ),
    Case("sin_cabecera.md", b"Solo texto, sin cabecera.\n", None, 1, ("cabecera",)),
    Case("sin_cierre.md", b"---\nkind: boletin\ntitle: Hola\n\nTexto\n", None, 1, ("cierra",)),
    Case("cuerpo_vacio.md", md("kind: boletin\ntitle: Hola mundo\n", "\n\n"), None, 5, ("vacío",)),
    # Each of these crashed `pregonero run` (issue 9) or leaked another file (issue 10).
    Case(
        "adjunto_punto.md",
        md("kind: boletin\ntitle: Cierre de vías\nattachments: [.]\n"),
        "attachments[0]",
        4,
        ("ningún archivo",),
    ),
    Case(
        "imagen_punto.md",
        md("kind: boletin\ntitle: Cierre de vías\nimage: ./\nimage_alt: Una vía\n"),
        "image",
        4,
        ("ningún archivo",),
    ),
    Case(
        "fecha_lejana.md",
        md("kind: boletin\ntitle: Cierre de vías\npublish_at: 9999-12-31T23:59:59-12:00\n"),
        "publish_at",
        4,
        ("fuera de rango",),
    ),
    Case(
        "titulo_nulo.md",
        md('kind: boletin\ntitle: "Cierre\\0 de vías"\n'),
        "title",
        3,
        ("carácter de control", "U+0000"),
    ),
    Case(
        "titulo_escape.md",
        md('kind: boletin\ntitle: "Cierre \\e[31mde vías"\n'),
        "title",
        3,
        ("carácter de control", "U+001B"),
    ),
    Case(
        "adjunto_md.md",
        md("kind: boletin\ntitle: Cierre de vías\nattachments: [otra.md]\n"),
        "attachments[0]",
        4,
        ("archivo de contenido (.md)",),
        {"otra.md": md("kind: boletin\ntitle: Borrador de otra persona\n")},
    ),
]

# Refused by the plan (the checks that need more than the file), with field and line.
PLAN_BAD = [
    Case(
        "publico_errado.md",
        md("kind: boletin\ntitle: Cierre de vías\naudiences: [ciudadania, periodsitas]\n"),
        "audiences[1]",
        4,
        ("público desconocido 'periodsitas'", "¿quiso decir 'periodistas'?"),
    ),
    Case(
        "publico_fuera_del_plan.md",
        md("kind: boletin\ntitle: Cierre de vías\naudiences: [gremios]\n"),
        "audiences",
        4,
        ("gremios", "no está en el plan"),
    ),
    Case(
        "canal_fuera_del_plan.md",
        md("kind: boletin\ntitle: Cierre de vías\nchannels:\n  only: [instagram]\n"),
        "channels",
        4,
        ("instagram",),
    ),
]

GOOD = md(
    "kind: boletin\ntitle: El parque San Pío reabre\nimage: media/parque.png\n"
    "image_alt: Vista del parque renovado\nattachments: [media/decreto.pdf]\n",
    "La Alcaldía entregó las obras del **parque**.\n\nSegundo párrafo.\n",
)
GOOD_MEDIA = {"media/parque.png": PNG, "media/decreto.pdf": b"%PDF-1.4 decreto"}
