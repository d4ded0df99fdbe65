"""A compiled script as a state graph: the model ``donkeysm-graph`` draws, and its DOT text.

The model is built from :class:`~donkey.dsm.diagram.Diagram` objects only, so
it knows nothing of the web or of Graphviz: :func:`build_graph` finds the
nodes and edges (and what looks wrong: transitions to states that do not
exist, states nothing leads to), :meth:`Graph.to_dot` writes it for ``dot``.
The live console (and anything else that wants the picture) reuses the same
model, so a state's node id is stable: :func:`node_id`.

What a reader of the picture should see at a glance:

- one cluster per diagram (a script with its ``#include`` files is one
  diagram; the cluster label names every file it came from);
- the initial state with an arrow from a dot, final states (no way out,
  or ``stop()`` on entering) with a double border;
- transitions labelled with their name and their conditions (the event);
  exception transitions red and dashed, kept out of the layout ranking so
  the normal flow reads top to bottom;
- ``callFSM``/``jumpFSM`` as bold edges into the called diagram's initial
  state;
- unknown targets as red ``?`` nodes, unreachable states greyed out.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from donkey.dsm.diagram import Action, Diagram, ForLoop, IfBlock, State, Transition
from donkey.dsm.errors import Location

#: the flow actions that enter another diagram
SUB_FSM_ACTIONS = ("callFSM", "jumpFSM")

#: a condition text longer than this is shortened in an edge label
LABEL_CONDITION_MAX = 40


@dataclass(frozen=True)
class Node:
    """One state of one diagram (or a placeholder for an unknown target)."""

    id: str
    diagram: str
    state: str
    initial: bool = False
    final: bool = False
    unknown: bool = False
    unreachable: bool = False
    location: Location | None = None


@dataclass(frozen=True)
class Edge:
    """A transition, or a ``callFSM``/``jumpFSM`` into another diagram."""

    source: str
    target: str
    name: str
    event: str
    kind: str  # "transition", "exception", "callFSM" or "jumpFSM"
    location: Location | None = None


@dataclass
class Graph:
    """Every node and edge of the drawn diagrams, and the warnings found on the way."""

    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    #: diagram name -> the files it was compiled from (the script and its includes)
    files: dict[str, list[str]] = field(default_factory=dict)
    #: ``file:line:col: message`` lines, as ``donkeysm-check`` prints them
    warnings: list[str] = field(default_factory=list)

    def to_dot(self, title: str = "") -> str:
        """The graph in Graphviz's DOT language."""
        out = ["digraph dsm {"]
        out.append("  rankdir=TB; compound=true; nodesep=0.4; ranksep=0.5;")
        if title:
            out.append(f"  label={_quote(title)}; labelloc=t; fontsize=16;")
        out.append(
            '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname="Helvetica"];'
        )
        out.append('  edge [fontname="Helvetica", fontsize=9];')
        for diagram, files in self.files.items():
            cluster = _ident(diagram)
            out.append(f"  subgraph cluster_{cluster} {{")
            label = diagram + "\n" + ", ".join(files)
            out.append(f'    label={_quote(label)}; style=rounded; color="#7a8ca8";')
            for node in self.nodes.values():
                if node.diagram != diagram:
                    continue
                if node.initial:
                    out.append(f'    "{node.id}.start" [shape=point, width=0.15, label=""];')
                out.append(f"    {_quote(node.id)} [{_node_attrs(node)}];")
            out.append("  }")
        for node in self.nodes.values():
            if node.initial:
                out.append(f'  "{node.id}.start" -> {_quote(node.id)};')
        for edge in self.edges:
            out.append(f"  {_quote(edge.source)} -> {_quote(edge.target)} [{_edge_attrs(edge)}];")
        out.append("}")
        return "\n".join(out) + "\n"


def node_id(diagram: str, state: str) -> str:
    """The id of ``state`` of ``diagram`` in the graph (and in a rendered SVG's titles)."""
    return f"{diagram}/{state}"


def build_graph(diagrams: Mapping[str, Diagram], roots: Iterable[str] | None = None) -> Graph:
    """The graph of ``diagrams``; reachability starts at the initial states of ``roots``.

    ``roots`` are the diagrams a call can start in (default: all of them);
    a diagram only reached through ``callFSM``/``jumpFSM`` is reachable
    from the state that calls it.
    """
    graph = Graph()
    roots = list(diagrams) if roots is None else [r for r in roots if r in diagrams]
    for diagram in diagrams.values():
        graph.files[diagram.name] = _files_of(diagram)
        for state in diagram.states.values():
            graph.nodes[node_id(diagram.name, state.name)] = Node(
                node_id(diagram.name, state.name),
                diagram.name,
                state.name,
                initial=state.name == diagram.initial,
                final=_is_final(state),
                location=state.location,
            )
    for diagram in diagrams.values():
        for state in diagram.states.values():
            source = node_id(diagram.name, state.name)
            for tr in state.transitions:
                graph.edges.append(_transition_edge(graph, diagram, tr))
            for action in _actions_of(state):
                edge = _sub_fsm_edge(graph, diagrams, source, action)
                if edge is not None:
                    graph.edges.append(edge)
    _mark_unreachable(graph, diagrams, roots)
    return graph


def _files_of(diagram: Diagram) -> list[str]:
    """The script first, then each file an ``#include`` brought in, in order of appearance."""
    files = [diagram.file]
    for state in diagram.states.values():
        for location in [state.location] + [tr.location for tr in state.transitions]:
            if location.file not in files:
                files.append(location.file)
    return files


def _is_final(state: State) -> bool:
    """No transition out, or ``stop()`` among the enter actions."""
    if not state.transitions:
        return True
    return any(a.spec.name == "stop" for a in _walk(state.enter))


def _transition_edge(graph: Graph, diagram: Diagram, tr: Transition) -> Edge:
    target = node_id(diagram.name, tr.target)
    if tr.target not in diagram.states:
        graph.warnings.append(
            f"{tr.location}: transition '{tr.name}' leads to unknown state '{tr.target}'"
        )
        graph.nodes.setdefault(
            target, Node(target, diagram.name, tr.target, unknown=True, location=tr.location)
        )
    return Edge(
        node_id(diagram.name, tr.source),
        target,
        tr.name,
        _event_text(tr),
        "exception" if tr.is_exception else "transition",
        tr.location,
    )


def _sub_fsm_edge(
    graph: Graph, diagrams: Mapping[str, Diagram], source: str, action: Action
) -> Edge | None:
    name = action.spec.name
    if name not in SUB_FSM_ACTIONS or not action.args:
        return None
    called = str(action.args[0]).strip().strip("\"'")
    if not called or "$" in called or "#" in called or "@" in called:
        graph.warnings.append(
            f"{action.location}: {action.text}: the diagram is computed at run time; not drawn"
        )
        return None
    diagram = diagrams.get(called)
    if diagram is None or diagram.initial is None:
        graph.warnings.append(f"{action.location}: {action.text}: unknown diagram '{called}'")
        target = node_id(called, "?")
        graph.nodes.setdefault(
            target, Node(target, called, "?", unknown=True, location=action.location)
        )
        graph.files.setdefault(called, ["(not found)"])
    else:
        target = node_id(called, diagram.initial)
    return Edge(source, target, "", name, name, action.location)


def _actions_of(state: State) -> Iterator[Action]:
    """Every action a state can run: enter, exit, and its transitions' actions."""
    yield from _walk(state.enter)
    yield from _walk(state.exit)
    for tr in state.transitions:
        yield from _walk(tr.actions)


def _walk(elements: tuple) -> Iterator[Action]:
    for element in elements:
        if isinstance(element, Action):
            yield element
        elif isinstance(element, IfBlock):
            yield from _walk(element.then)
            yield from _walk(element.otherwise)
        elif isinstance(element, ForLoop):
            yield from _walk(element.body)


def _mark_unreachable(graph: Graph, diagrams: Mapping[str, Diagram], roots: list[str]) -> None:
    start = [node_id(r, diagrams[r].initial or "") for r in roots if diagrams[r].initial]
    seen: set[str] = set()
    todo = list(start)
    out: dict[str, list[str]] = {}
    for edge in graph.edges:
        out.setdefault(edge.source, []).append(edge.target)
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(out.get(current, ()))
    for key, node in list(graph.nodes.items()):
        if key in seen or node.unknown:
            continue
        graph.nodes[key] = Node(
            node.id,
            node.diagram,
            node.state,
            initial=node.initial,
            final=node.final,
            unreachable=True,
            location=node.location,
        )
        graph.warnings.append(
            f"{node.location}: state '{node.state}' of diagram '{node.diagram}' is unreachable"
        )


def _event_text(tr: Transition) -> str:
    parts = [c.text for c in tr.conditions]
    if tr.is_exception:
        parts.insert(0, "exception")
    shortened = [
        p if len(p) <= LABEL_CONDITION_MAX else p[: LABEL_CONDITION_MAX - 1] + "…" for p in parts
    ]
    return "; ".join(shortened)


def _node_attrs(node: Node) -> str:
    attrs = [f"label={_quote(node.state)}", f"tooltip={_quote(str(node.location or ''))}"]
    if node.unknown:
        attrs += ["shape=octagon", 'fillcolor="#fde2e2"', 'color="#c0392b"', 'fontcolor="#c0392b"']
        attrs[0] = f"label={_quote('? ' + node.state)}"
    elif node.unreachable:
        attrs += [
            'fillcolor="#f0f0f0"',
            'color="#9a9a9a"',
            'fontcolor="#9a9a9a"',
            'style="rounded,filled,dashed"',
        ]
    if node.initial:
        attrs += ["penwidth=2"]
    if node.final:
        attrs += ["peripheries=2", 'fillcolor="#e6f4e6"']
    return ", ".join(attrs)


def _edge_attrs(edge: Edge) -> str:
    label = (
        edge.name if not edge.event else f"{edge.name}\n[{edge.event}]" if edge.name else edge.event
    )
    attrs = [f"label={_quote(label)}", f"tooltip={_quote(str(edge.location or ''))}"]
    if edge.kind == "exception":
        attrs += ['color="#c0392b"', 'fontcolor="#c0392b"', "style=dashed", "constraint=false"]
    elif edge.kind in SUB_FSM_ACTIONS:
        attrs += ['color="#1f5fa8"', 'fontcolor="#1f5fa8"', "style=bold", "penwidth=2"]
    return ", ".join(attrs)


def _quote(text: str) -> str:
    """``text`` as a DOT string: quotes and backslashes escaped, newlines as ``\\n``."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _ident(name: str) -> str:
    return re.sub(r"\W", "_", name)


def collect_diagrams(
    paths: Iterable[str], compile_file: Callable[[str], Diagram]
) -> tuple[dict[str, Diagram], list[str], list[str]]:
    """Compile ``paths`` and every diagram they reach through ``callFSM``/``jumpFSM``.

    A called diagram is looked for as ``NAME.dsm`` next to the script that
    calls it (SEMS's ``diag_path``).  Returns the diagrams, the root names
    (one per path) and a line for each called diagram that was not found.
    """
    diagrams: dict[str, Diagram] = {}
    roots: list[str] = []
    missing: list[str] = []
    todo: list[tuple[str, bool]] = [(p, True) for p in paths]
    while todo:
        path, is_root = todo.pop(0)
        diagram = compile_file(path)
        if is_root:
            roots.append(diagram.name)
        if diagram.name in diagrams:
            continue
        diagrams[diagram.name] = diagram
        folder = os.path.dirname(path)
        for state in diagram.states.values():
            for action in _actions_of(state):
                if action.spec.name not in SUB_FSM_ACTIONS or not action.args:
                    continue
                called = str(action.args[0]).strip().strip("\"'")
                if not called or called in diagrams or re.search(r"[$#@]", called):
                    continue
                candidate = os.path.join(folder, called + ".dsm")
                if os.path.exists(candidate):
                    if all(candidate != queued for queued, _ in todo):
                        todo.append((candidate, False))
                else:
                    missing.append(f"{action.location}: {action.text}: no file {candidate}")
    return diagrams, roots, missing
