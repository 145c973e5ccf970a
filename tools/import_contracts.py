"""An import-linter contract that forbids every import cycle between the project's modules.

import-linter's own ``acyclic_siblings`` judges packages as wholes: the API package that mounts
every router, and every router that takes the API's dependencies, is a "cycle" of packages
although no module imports itself back. What makes code hard to follow is a cycle of *modules*
(``step -> deciding -> step``), however it is hidden: an import inside a function or under
``TYPE_CHECKING`` counts like any other, since grimp reads them all.

Configured in pyproject.toml (``contract_types``); ``lint-imports`` runs from the repository root,
which it puts on ``sys.path``, so ``tools.import_contracts`` imports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import grimp
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck

# A long cycle is printed by its first modules only; one is enough to find the import to cut.
_SHOWN_PER_CYCLE = 12


def strongly_connected(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (each a set of modules that
    import each other round a cycle), by Tarjan's algorithm without recursion."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, pending = work[-1]
            if pending:
                child = pending.pop()
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, sorted(graph.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def module_graph(graph: grimp.ImportGraph, root: str) -> dict[str, set[str]]:
    """Each module of ``root`` and the modules of ``root`` it imports directly."""
    prefix = root + "."
    ours = {m for m in graph.modules if m == root or m.startswith(prefix)}
    return {m: graph.find_modules_directly_imported_by(m) & ours for m in ours}


class AcyclicModulesContract(Contract):
    """No module of ``root`` imports, directly or through others, a module that imports it."""

    type_name = "acyclic_modules"

    root = fields.StringField()

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        cycles = strongly_connected(module_graph(graph, str(self.root)))
        return ContractCheck(kept=not cycles, metadata={"cycles": cycles})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for cycle in check.metadata["cycles"]:
            shown = ", ".join(cycle[:_SHOWN_PER_CYCLE])
            more = (
                f" and {len(cycle) - _SHOWN_PER_CYCLE} more"
                if len(cycle) > _SHOWN_PER_CYCLE
                else ""
            )
            output.print_error(f"These modules import each other round a cycle: {shown}{more}")
            output.new_line()
