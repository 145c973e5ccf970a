"""The acyclic-modules contract finds every cycle, however long, and nothing else."""

from __future__ import annotations

import grimp
from hypothesis import given
from hypothesis import strategies as st
from tools.import_contracts import AcyclicModulesContract, module_graph, strongly_connected


def _graph(edges: list[tuple[str, str]]) -> grimp.ImportGraph:
    graph = grimp.ImportGraph()
    for importer, imported in edges:
        graph.add_import(importer=importer, imported=imported)
    return graph


def _contract() -> AcyclicModulesContract:
    return AcyclicModulesContract(
        name="no cycles", session_options={}, contract_options={"root": "app"}
    )


def test_a_cycle_through_three_modules_breaks_the_contract() -> None:
    graph = _graph(
        [("app.step", "app.decide"), ("app.decide", "app.stop"), ("app.stop", "app.step")]
    )
    check = _contract().check(graph, verbose=False)
    assert not check.kept
    assert check.metadata["cycles"] == [["app.decide", "app.step", "app.stop"]]


def test_a_one_way_graph_keeps_it_and_modules_outside_the_root_do_not_count() -> None:
    graph = _graph(
        [
            ("app.step", "app.decide"),
            ("app.decide", "app.risk"),
            ("app.step", "app.risk"),
            ("app.step", "other.x"),
            ("other.x", "app.step"),  # a cycle only through a foreign package
        ]
    )
    assert _contract().check(graph, verbose=False).kept


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), set()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


@given(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7)), max_size=30))
def test_components_are_exactly_the_modules_that_reach_each_other(
    pairs: list[tuple[int, int]],
) -> None:
    edges = [(f"app.m{a}", f"app.m{b}") for a, b in pairs if a != b]
    graph = module_graph(_graph(edges), "app")
    components = strongly_connected(graph)
    in_cycle = {
        m
        for m in graph
        if any(m in _reachable(graph, n) and n in _reachable(graph, m) for n in graph if n != m)
    }
    assert {m for c in components for m in c} == in_cycle
    for component in components:
        for a in component:
            assert set(component) - {a} <= _reachable(graph, a)
