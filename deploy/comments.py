"""A check that comments and docstrings state the mechanism and the reason, not the history: no dates, issue
numbers, commit hashes or session words ("this wave") in the code's comments and docstrings. Figures and the
runs behind a choice belong in docs/PERFORMANCE.md; a comment points to its section. `deploy/movieviews check`
runs it (`python -m deploy.comments`): one line per finding, exit 1 if any."""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from deploy import checkstep
from deploy.settings import REPO_ROOT

PACKAGES = ("ground", "schemas", "ingest", "stream", "readmodel", "deploy")
# Case-sensitive, so "2 decimals" is no date.
_MONTH = (
    r"(?-i:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:tember)?"
    r"|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\b"
)
HISTORY = re.compile(
    "|".join(
        (
            r"\b20[2-3][0-9]\b",  # a year
            rf"\b[0-9]{{1,2}} {_MONTH}",  # a day, then a month
            rf"\b{_MONTH} [0-9]{{1,2}}\b",  # a month, then a day
            r"(?<![\w&])#[0-9]{1,4}\b",  # an issue number (not an HTML entity)
            r"\bthis (?:wave|session|issue)\b",
            r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,12}\b",  # a short commit hash
        )
    ),
    re.IGNORECASE,
)
# Java: a // comment to the end of its line, or a /* ... */ block (the job's string literals hold neither).
_JAVA_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int
    text: str

    def __str__(self) -> str:
        where = self.path.relative_to(REPO_ROOT) if self.path.is_relative_to(REPO_ROOT) else self.path
        return f"{where}:{self.line}: history in a comment: {self.text.strip()}"


def findings(paths: Iterable[Path]) -> Iterator[Finding]:
    for path in paths:
        source = path.read_text(encoding="utf-8")
        texts = _python_texts(source) if path.suffix == ".py" else _java_texts(source)
        for line, text in texts:
            for offset, part in enumerate(text.splitlines()):
                if HISTORY.search(part):
                    yield Finding(path, line + offset, part)


def sources(root: Path = REPO_ROOT) -> list[Path]:
    """The Python files of every package (but this one, whose patterns name what they find) and the Java
    sources of the job."""
    files = [p for package in PACKAGES for p in sorted((root / package).rglob("*.py"))]
    files = [p for p in files if p.resolve() != Path(__file__).resolve()]
    return files + sorted((root / "stream" / "jvm").rglob("*.java"))


def _python_texts(source: str) -> Iterator[tuple[int, str]]:
    """Each comment and docstring with the line it starts on."""
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            yield body[0].lineno, body[0].value.value


def _java_texts(source: str) -> Iterator[tuple[int, str]]:
    for match in _JAVA_COMMENT.finditer(source):
        yield source.count("\n", 0, match.start()) + 1, match.group()


def main() -> int:
    passed = f"comments: no dates, issue numbers or session words in {', '.join(PACKAGES)}"
    return checkstep.report(lambda: map(str, findings(sources())), passed)


if __name__ == "__main__":
    sys.exit(main())
