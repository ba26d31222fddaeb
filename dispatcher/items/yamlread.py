"""The one YAML reader for content files and the plan: plain values plus the line of each key.

ruamel.yaml composes the text (YAML 1.2: ``17:00`` and ``no`` stay text; with libyaml's C
parser from ``ruamel.yaml.clib``, several times faster than a pure-Python parser) and gives
every node its position; the values are then built here from the nodes, so that:

- every key path gets its line (``lines[("event", "starts_at")]``, ``lines[("tags", 1)]``);
- a repeated key is refused with both lines; an alias (``*x``) is refused where it is used,
  so an alias "bomb" is never expanded; a tag other than YAML's own (``!foo``,
  ``!!python/object``) is refused: nothing is ever constructed from a tag;
- numbers are plain decimals only (``010`` and ``0o17`` stay text), an impossible date stays
  text (so validation can name its field), and values are plain ``dict``/``list``/``str``.

Errors are :class:`YamlProblem` with a 0-based line in the text and a Spanish message.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

KeyPath = tuple[str | int, ...]

_STD = "tag:yaml.org,2002:"
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)\.[0-9]+(?:[eE][-+]?[0-9]+)?")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}


@dataclass
class YamlProblem:
    """One problem, at a 0-based line of the text (``None``: the whole text). A message
    with ``{}`` takes a 1-based line of the caller's file (the first occurrence of a key)."""

    line: int | None
    message: str
    path: KeyPath = ()
    first_line: int | None = None


class YamlError(Exception):
    """The text cannot be read; ``problems`` is never empty."""

    def __init__(self, problems: list[YamlProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(p.message for p in problems))


@dataclass
class Document:
    """The plain data and the 0-based line of every key path (and list item)."""

    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)
    root_line: int = 0

    def line_of(self, path: KeyPath) -> int:
        """The line of ``path``, or of its nearest present parent."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return self.root_line


def read_yaml(text: str) -> Document:
    """Read one YAML document. Raises :class:`YamlError` (Spanish messages, 0-based lines)."""
    try:
        root = YAML(typ="safe").compose(text)  # libyaml's parser when ruamel.yaml.clib is there
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line if mark else None
        raise YamlError([YamlProblem(line, yaml_message(exc, _char_at(text, mark)))]) from None
    except ReaderError as exc:  # a control character, before any parsing
        line = text[: exc.position].count("\n") if isinstance(exc.position, int) else None
        message = _control_message(str(exc)) or "hay un carácter no permitido"
        raise YamlError([YamlProblem(line, message)]) from None
    except (YAMLError, RecursionError, ValueError) as exc:
        message = _control_message(str(exc)) or "YAML inválido o demasiado anidado"
        raise YamlError([YamlProblem(None, f"no se puede leer: {message}")]) from None
    if root is None:
        return Document(None)
    doc = Document(None, root_line=root.start_mark.line)
    problems: list[YamlProblem] = []
    _index(root, doc, problems)
    if problems:
        raise YamlError(problems)
    doc.data = _build(root)
    return doc


def _char_at(text: str, mark: Any) -> str:
    try:
        return text.split("\n")[mark.line][mark.column]
    except (AttributeError, IndexError, TypeError):
        return ""


def _tag(node: Node) -> str:
    tag = node.tag
    return tag if isinstance(tag, str) else str(getattr(tag, "value", tag))


def _index(root: Node, doc: Document, problems: list[YamlProblem]) -> None:
    """Record each key's line; refuse repeated keys, aliases and foreign tags."""
    seen: set[int] = set()
    queue: deque[tuple[KeyPath, Node]] = deque([((), root)])
    while queue:  # breadth-first: an alias is reported where it is used, after its anchor
        path, node = queue.popleft()
        line = doc.lines.get(path, node.start_mark.line)
        if id(node) in seen:
            problems.append(YamlProblem(line, "no use anclas ni alias de YAML ('&', '*')", path))
            continue
        seen.add(id(node))
        tag = _tag(node)
        if not tag.startswith(_STD) or tag.startswith(_STD + "python"):
            problems.append(YamlProblem(line, f"no use etiquetas de YAML ({tag!r})", path))
            continue
        if isinstance(node, MappingNode):
            first: dict[str, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, ScalarNode):
                    problems.append(
                        YamlProblem(
                            key_node.start_mark.line,
                            "una clave no puede ser una lista ni un grupo",
                            path,
                        )
                    )
                    continue
                key = str(key_node.value)
                key_line = key_node.start_mark.line
                if key in first:
                    again = f"la clave '{key}' está repetida (ya aparece en la línea {{}})"
                    problems.append(YamlProblem(key_line, again, (*path, key), first[key]))
                    continue
                first[key] = key_line
                doc.lines[(*path, key)] = key_line
                queue.append(((*path, key), value_node))
        elif isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                doc.lines[(*path, i)] = item.start_mark.line
                queue.append(((*path, i), item))


def _build(node: Node) -> Any:
    if isinstance(node, MappingNode):
        return {str(k.value): _build(v) for k, v in node.value}
    if isinstance(node, SequenceNode):
        return [_build(item) for item in node.value]
    return _scalar(node)


def _scalar(node: Node) -> Any:
    value = str(node.value)
    style = getattr(node, "style", None) or None  # plain: None (Python parser) or "" (libyaml)
    if style in (None, ">"):
        # ruamel marks where it folded a plain or '>' scalar with BEL (for round trips); a
        # real control character cannot appear there (the reader refuses it).
        value = value.replace("\a", "")
    tag = _tag(node)[len(_STD) :]
    if tag == "null" and style is None:
        return None
    if tag == "bool" and value in _BOOL:
        return _BOOL[value]
    if tag == "int" and _INT.fullmatch(value):
        return int(value)
    if tag == "float" and _FLOAT.fullmatch(value):
        return float(value)
    if tag == "timestamp":
        return _timestamp(value)
    return value


def _timestamp(value: str) -> date | datetime | str:
    """A date or an aware/naive datetime; text when it is not a real date (2026-02-30)."""
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        return datetime.fromisoformat(value.replace(" ", "T", 1) if "T" not in value else value)
    except ValueError:
        return value


def _control_message(text: str) -> str | None:
    found = re.search(r"#x([0-9a-fA-F]{4})", text)
    if found:
        return f"la cabecera tiene un carácter no permitido (U+{found.group(1).upper()})"
    return None


# The parser's problems, for editors. Matched by prefix; anything else is shown as is.
_YAML_PROBLEMS = {
    "mapping values are not allowed": "hay un ':' de más en esta línea; si el valor lleva ':', "
    "póngalo entre comillas",
    "found character '\\t'": "hay un tabulador: use espacios para la sangría",
    "found a tab character": "hay un tabulador: use espacios para la sangría",
    "could not find expected ':'": "falta ':' entre la clave y su valor",
    "found unexpected end of stream": "termina antes de tiempo (¿comillas sin cerrar?)",
    "did not find expected key": "la sangría no cuadra o falta ':' (¿comillas sin cerrar?)",
    "did not find expected '-' indicator": "la sangría de la lista no cuadra",
    "expected <block end>": "la sangría no cuadra con la de las líneas anteriores",
    "found character that cannot start any token": "un valor empieza por un carácter especial "
    "(@, `, %): póngalo entre comillas",
    "found unhashable key": "una clave no puede ser una lista ni un grupo",
    "found undefined alias": "no use anclas ni alias de YAML ('&', '*')",
    "expected a single document": "tiene más de un documento YAML",
    "but found another document": "tiene más de un documento YAML",
}


def yaml_message(exc: MarkedYAMLError, char: str = "") -> str:
    """A Spanish message for one parser error (prefixed with ``no se puede leer``);
    ``char`` is the character at the error's position, when known."""
    problem = str(exc.problem or exc.context or "")
    if char == "\t":
        return "no se puede leer: hay un tabulador: use espacios para la sangría"
    for prefix, message in _YAML_PROBLEMS.items():
        if problem.startswith(prefix):
            return f"no se puede leer: {message}"
    control = _control_message(problem)
    if control:
        return control
    return f"no se puede leer (YAML: {problem or 'error de sintaxis'})"
