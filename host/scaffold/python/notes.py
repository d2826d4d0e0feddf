"""The notes' rules: plain Python, so `python -m unittest` checks them without building the component."""

from typing import Any

MAX_CHARS = 200
MESSAGE = "write 1 to 200 characters"


class InvalidNote(ValueError):
    """A note that breaks the rules; its message is the one to show next to the field."""

    def __init__(self, message: str = MESSAGE) -> None:
        super().__init__(message)


def check_text(text: object) -> str:
    """The note's text, trimmed, if it holds 1 to 200 characters; raises `InvalidNote` otherwise.

    It takes any value because a JSON body may hold anything under "text".
    """
    if not isinstance(text, str):
        raise InvalidNote()
    text = text.strip()
    if not 1 <= len(text) <= MAX_CHARS:
        raise InvalidNote()
    return text


def summary(note_id: str, note: dict[str, Any]) -> dict[str, Any]:
    """What pages and the JSON API show of a stored note (never the author's user id)."""
    return {"id": note_id, "text": note["text"], "author": note["author"], "created_ms": note["created_ms"]}
