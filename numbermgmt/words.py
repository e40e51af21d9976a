"""The yes/no vocabulary, written once: settings' environment flags, import cells, exports
and the benchmark's django-import-export widgets all read it. Plain Python (no Django), so
settings.py can import it."""

from __future__ import annotations

YES = frozenset({"yes", "y", "true", "t", "1", "on", "x"})
NO = frozenset({"no", "n", "false", "f", "0", "off"})
YES_WORD, NO_WORD = "yes", "no"  # how a boolean is written out (exports)


def yes_no(value: object) -> str:
    return YES_WORD if value else NO_WORD


def parse_yes_no(text: str) -> bool | None:
    """True for a yes word, False for a no word (any case), None for anything else."""
    word = text.strip().lower()
    if word in YES:
        return True
    if word in NO:
        return False
    return None
