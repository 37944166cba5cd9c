"""A check that no module imports itself back through others: grimp's graph of the project's packages, with
the imports under TYPE_CHECKING counted (a cycle broken only for the interpreter is still one for a reader).
import-linter's contracts check the layers between packages, not cycles among the modules within one.
`deploy/movieviews check` runs it (`python -m deploy.cycles`): one line per cycle, exit 1 if any."""

from __future__ import annotations

import sys

import grimp

from deploy import checkstep
from deploy.comments import PACKAGES


def cycles(*packages: str) -> list[tuple[str, ...]]:
    """Each cycle once, as the shortest chain from one of its modules back to that module."""
    graph = grimp.build_graph(*packages, cache_dir=None)
    found: dict[frozenset[str], tuple[str, ...]] = {}
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                found.setdefault(frozenset(back), (importer, *back))
    return list(found.values())


def main() -> int:
    passed = f"import cycles: none among the modules of {', '.join(PACKAGES)}"
    return checkstep.report(
        lambda: ("import cycle: " + " -> ".join(cycle) for cycle in cycles(*PACKAGES)), passed
    )


if __name__ == "__main__":
    sys.exit(main())
