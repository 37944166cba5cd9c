"""Read arguments checked by the one definition of a valid field (`schemas.fields`), as the writes are: a
query never sends Postgres a value no event can hold (a NUL it would refuse with an error), and a genre is
looked up in the spelling it is stored in (NFC)."""

from __future__ import annotations

from collections.abc import Callable

from readmodel.errors import InvalidArgumentError
from schemas import fields
from schemas.errors import InvalidFieldError, shown

SUGGESTION = "Correct the argument and send the request again; schemas/README.md says what is valid."


def movie_id(argument: str, value: str) -> str:
    return _checked(argument, value, fields.check_id)


def genre(argument: str, value: str | None) -> str | None:
    return None if value is None else _checked(argument, value, fields.normalise_text)


def _checked(argument: str, value: str, check: Callable[[str, object], str]) -> str:
    try:
        return check(argument, value)
    except InvalidFieldError as exc:
        raise InvalidArgumentError(argument, f"{exc.expected}, got {shown(exc.value)}", SUGGESTION) from exc
