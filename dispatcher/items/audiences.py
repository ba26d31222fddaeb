"""The mailing audiences: one list, the single source for intake, plan and ledger."""

from __future__ import annotations

from collections.abc import Iterable

AUDIENCES: tuple[str, ...] = ("periodistas", "ciudadania", "funcionarios", "jac_jal", "gremios")
"""Mailing lists, in bit order: the order is stored in the ledger, so only append."""


def audience_mask(names: Iterable[str]) -> int:
    """Bit mask of audience names (``ValueError`` on an unknown one)."""
    mask = 0
    for name in names:
        mask |= 1 << AUDIENCES.index(name)
    return mask


def audience_names(mask: int) -> list[str]:
    return [name for bit, name in enumerate(AUDIENCES) if mask & (1 << bit)]
