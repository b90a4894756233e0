"""The floor plan holds: no import circle, the daemon never loads the CLI, the tray or org/.

Every module of the project's packages is parsed (not imported: importing would run code
and hide function-level imports behind lazy paths), and every ``import`` statement counts,
at module level or inside a function, because a lazy import is still a dependency: the
circle it closes only waits for the first call to bite.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agent", "capture", "consent", "privacy", "storage", "org")

# The daemon's side must not reach these: the CLI and the tray are front ends that talk
# to it, and org/ is the organisation's side, which ships with the device but never runs
# in its recording process.
DAEMON = "agent.runtime.daemon"
FORBIDDEN_FROM_DAEMON = ("agent.cli", "agent.tray", "org")

# The top-level packages form layers; an import may only point down this list (a package
# may use any package after it, never one before it). Found in the graph, not wished for:
#   agent    the device's process (daemon, tray, setup) and the `capture-agent` command
#            line, which wires every package below together; its CLI also carries the
#            `org` commands, so agent.cli (and only it: see the daemon test) imports org/
#   org      the organisation's side: keys, signed policies, pulling and verifying uploads
#   privacy  filters events before they are stored (reads capture's event and window types)
#   consent  the person's decisions and the fleet policy (gates capture's events)
#   storage  chunks, keys, safe and atomic files (writes capture's events)
#   capture  sources of events and the event, window and frame types everyone reads: the
#            bottom layer, importing none of the others
ALLOWED_LAYERS: tuple[str, ...] = ("agent", "org", "privacy", "consent", "storage", "capture")

Graph = dict[str, set[str]]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _resolve(current: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` names (relative imports resolved)."""
    if node.level == 0:
        return node.module or ""
    base = current.split(".") if is_package else current.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _imported(current: str, path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """Every project module ``path`` imports, anywhere in its body (TYPE_CHECKING included:
    a circle through annotations is still a circle a reader has to untangle)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        names: Iterable[str]
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(current, is_package, node)
            # `from pkg import mod` imports the module pkg.mod when it exists.
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            target = _owner(name, modules)
            if target is not None and target != current:
                yield target


def _owner(name: str, modules: dict[str, Path]) -> str | None:
    """The project module ``name`` refers to: itself, or the nearest package above it."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _graph() -> Graph:
    modules = _modules()
    graph: Graph = {name: set() for name in modules}
    for name, path in modules.items():
        for target in _imported(name, path, modules):
            # `from agent.cli import main` names the package agent.cli too, but importing
            # a submodule does not make its parent depend on it: only the edge to the
            # module itself counts when both were named.
            graph[name].add(target)
    return _drop_parent_edges(graph)


def _drop_parent_edges(graph: Graph) -> Graph:
    """Drop edges to a package (``__init__``) when the same module imports a submodule of it.

    ``from agent.cli.common import out`` first resolves to ``agent.cli.common``; ``from
    agent.cli import common`` resolves to both ``agent.cli`` and ``agent.cli.common``.
    Python runs the package's ``__init__`` either way, so the edge to the package is real
    only when its ``__init__`` has code: ours are docstrings, so the submodule edge is kept.
    """
    cleaned: Graph = {}
    for name, targets in graph.items():
        cleaned[name] = {
            t for t in targets if not any(o.startswith(t + ".") for o in targets if o != t)
        }
    return cleaned


def _cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        # Iterative, so that a long chain cannot hit the recursion limit.
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _path_within(graph: Graph, component: list[str]) -> list[str]:
    """One concrete circle through the component's first module, for the failure message."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for child in sorted(graph[node] & members):
                if child == start:
                    circle = [node]
                    while circle[-1] != start:
                        circle.append(previous[circle[-1]])
                    return [start, *reversed(circle[:-1]), start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    return component


def _reachable(graph: Graph, start: str) -> dict[str, str]:
    """Every module ``start`` reaches, each with the module that imports it on the way."""
    seen = {start: start}
    frontier = [start]
    while frontier:
        node = frontier.pop()
        for child in sorted(graph[node]):
            if child not in seen:
                seen[child] = node
                frontier.append(child)
    return seen


def _chain(parents: dict[str, str], end: str) -> str:
    chain = [end]
    while parents[chain[-1]] != chain[-1]:
        chain.append(parents[chain[-1]])
    return " -> ".join(reversed(chain))


def _package(module: str) -> str:
    return module.split(".", 1)[0]


# -- the checks -------------------------------------------------------------------------


def test_the_parser_sees_every_kind_of_import() -> None:
    """The graph builder itself: plain, from-a-package and lazy imports all count."""
    graph = _graph()
    assert "agent.paths" in graph["agent.cli.common"]  # from agent.paths import ...
    assert "org.cli" in graph["agent.cli.main"]  # from org import cli
    assert "agent.runtime.daemon" in graph["agent.cli.run"]  # inside cmd_run only
    assert "org" not in graph["agent.cli.main"]  # the package, when a module was meant
    assert all(_package(t) in PACKAGES for targets in graph.values() for t in targets)


def test_no_import_circle_between_modules() -> None:
    """No module imports, directly or through others, a module that imports it back."""
    graph = _graph()
    circles = [" -> ".join(_path_within(graph, c)) for c in _cycles(graph)]
    assert not circles, "import circles:\n  " + "\n  ".join(circles)


def test_the_daemon_never_reaches_the_cli_tray_or_org() -> None:
    """Nothing the daemon imports, at any depth, is a front end or the organisation's side."""
    graph = _graph()
    reached = _reachable(graph, DAEMON)
    bad = [
        _chain(reached, module)
        for module in sorted(reached)
        if any(module == f or module.startswith(f + ".") for f in FORBIDDEN_FROM_DAEMON)
    ]
    assert not bad, "the daemon reaches:\n  " + "\n  ".join(bad)


def test_front_ends_and_org_stay_apart() -> None:
    """The tray talks to the daemon, not to the CLI; org/ uses no part of the device's agent.

    The tray once built the whole CLI parser to ask whether `view` existed, closing an
    eight-module circle through the CLI; org/ once raised the agent's errors.
    """
    graph = _graph()
    bad: list[str] = []
    for start, forbidden in (("agent.tray", "agent.cli"), ("org", "agent")):
        for module in sorted(m for m in graph if m == start or m.startswith(start + ".")):
            reached = _reachable(graph, module)
            bad += [
                _chain(reached, m)
                for m in sorted(reached)
                if m == forbidden or m.startswith(forbidden + ".")
            ]
    assert not bad, "forbidden imports:\n  " + "\n  ".join(sorted(set(bad)))


def test_packages_import_only_down_the_layers() -> None:
    """Between top-level packages, imports point one way: down ALLOWED_LAYERS."""
    graph = _graph()
    rank = {package: i for i, package in enumerate(ALLOWED_LAYERS)}
    assert set(rank) == set(PACKAGES)
    upward = sorted(
        f"{source} -> {target}"
        for source, targets in graph.items()
        for target in targets
        if rank[_package(target)] < rank[_package(source)]
    )
    assert not upward, "imports that point up the layers:\n  " + "\n  ".join(upward)
