"""Parameter specifications: default, valid range, units and doc kept together.

Node models and couplings declare their parameters with :class:`Param`. The same
declaration serves defaults, validation of user keywords, the docs and the workflow's
config schema, so the three can never disagree.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Param:
    """One model or coupling parameter.

    ``low``/``high`` bound the values accepted from a config (``None`` = unbounded);
    ``units`` is free text (``"ms"``, ``"rad/ms"``, ``"mV"``, ``""`` for dimensionless).
    """

    default: Any
    doc: str
    units: str = ""
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None


def closest(name: str, choices) -> str:
    """A ``did you mean 'x'?`` suffix for an unknown name, or an empty string."""
    match = difflib.get_close_matches(name, list(choices), n=1)
    return f" Did you mean {match[0]!r}?" if match else ""


def resolve(owner: str, specs: Mapping[str, Param], given: Mapping[str, Any]) -> dict:
    """Defaults of ``specs`` overridden by ``given``; unknown keys raise ``ValueError``.

    The message names ``owner`` (e.g. ``"coupling 'tanh'"``) and lists the valid names.
    """
    unknown = [key for key in given if key not in specs]
    if unknown:
        valid = ", ".join(specs) or "(none)"
        raise ValueError(
            f"unknown parameter {unknown[0]!r} for {owner}; valid parameters: {valid}."
            + closest(unknown[0], specs)
        )
    for key, value in given.items():
        choices = specs[key].choices
        if choices is not None and not any(value is c or value == c for c in choices):
            raise ValueError(
                f"{owner}: parameter {key!r} must be one of {choices}, got {value!r}."
            )
    values = {name: spec.default for name, spec in specs.items()}
    values.update(given)
    return values
