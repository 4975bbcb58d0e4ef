"""Named configurations whose old names still resolve.

A preset is renamed when its name stops saying what it is; checkpoints, recipes and scripts that
name it the old way must keep working, so an old name stays as an alias of the new one.
"""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


class Presets(dict[str, T]):
    """name -> config; `aliases` (old name -> name) resolve on lookup but are not listed."""

    def __init__(self, presets: dict[str, T], aliases: dict[str, str] | None = None):
        super().__init__(presets)
        self.aliases = dict(aliases or {})
        for old, new in self.aliases.items():
            if new not in presets:
                raise ValueError(f"alias {old!r} names no preset ({new!r})")

    def canonical(self, name: str) -> str:
        """The current name of `name` (itself, or what the alias points to)."""
        return self.aliases.get(name, name)

    def __missing__(self, name: str) -> T:
        if name in self.aliases:
            return self[self.aliases[name]]
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name) or name in self.aliases

    def get(self, name: str, default=None):
        return self[name] if name in self else default  # noqa: SIM401 (dict.get skips aliases)
