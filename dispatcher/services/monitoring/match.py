"""Keyword matching: case and accents aside (:func:`dispatcher.items.monitoring.fold`), on
whole words, in an entry's title or summary.

"Alcaldía de Bucaramanga" matches "ALCALDIA DE  BUCARAMANGA," and "la alcaldía de
Bucaramanga" but not "Alcaldía de Bucaramangas"; "Metrolínea" does not match inside
"metrolineal". Each keyword is reported as the plan writes it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from dispatcher.items.monitoring import fold


class Matcher:
    """The plan's keywords, compiled once."""

    def __init__(self, keywords: Sequence[str]) -> None:
        self.keywords = tuple(keywords)
        self._patterns = [
            (keyword, re.compile(_pattern(fold(keyword)))) for keyword in self.keywords
        ]

    def find(self, *texts: str) -> tuple[str, ...]:
        """The keywords found in any of ``texts``, in the plan's order."""
        folded = " | ".join(fold(text) for text in texts if text)
        return tuple(keyword for keyword, pattern in self._patterns if pattern.search(folded))


def _pattern(folded: str) -> str:
    words = (re.escape(word) for word in folded.split(" "))
    return r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)"
