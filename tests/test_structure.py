"""The tree's shape, kept: no import cycle among the project's modules (lazy imports inside functions count too: a
cycle broken by importing late is still two modules that cannot be understood apart), and no module grows past
~400 lines, the tests' included, unless it is data or listed here as still to be split; and the layers hold:
dispatch's pure core imports no I/O, and the protocol the key ring runs imports nothing of the server's."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("basestation", "protocol", "firmware", "simulator", "nightwatch", "bench", "harness")
MAX_LINES = 400
# Over the limit today, each to be split; the list only shrinks. Data (string tables) is not code to split: none
# left, the words are in gettext catalogues (basestation/dispatch/locale).
DATA: set[str] = set()
STILL_TO_SPLIT: set[str] = set()
# The tests too: a test module over the limit is split by what it tests, its helpers shared through a conftest.py
# or a small module beside it. None over today; the list only shrinks.
TESTS_STILL_TO_SPLIT: set[str] = set()


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "node_modules" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            targets = [base, *(f"{base}.{a.name}" for a in node.names)]
        else:
            continue
        for target in targets:
            found = target
            while found and found not in known:
                found = found.rpartition(".")[0]
            # A package's own __init__ importing its submodules is how packages are made, not a cycle.
            if found and found != name and not found.startswith(name + "."):
                out.add(found)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root, edges_of_root in graph.items():
        if root in index:
            continue
        work = [(root, iter(sorted(edges_of_root)))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def test_no_module_imports_one_that_imports_it_back() -> None:
    known = _modules()
    assert len(known) > 100  # the walk found the tree
    graph = {name: _imports(name, path, known) for name, path in known.items()}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_is_over_the_limit_unless_data_or_listed() -> None:
    over = {
        str(path.relative_to(ROOT)) for path in _modules().values() if len(path.read_text().splitlines()) > MAX_LINES
    }
    assert over - DATA - STILL_TO_SPLIT == set()
    # A module split below the limit leaves the list, so that it stays below.
    assert STILL_TO_SPLIT - over == set()


def test_no_test_module_is_over_the_limit_unless_listed() -> None:
    tests = [path for path in (ROOT / "tests").rglob("*.py") if "node_modules" not in path.parts]
    assert len(tests) > 100  # the walk found the tests
    over = {str(path.relative_to(ROOT)) for path in tests if len(path.read_text().splitlines()) > MAX_LINES}
    assert over - TESTS_STILL_TO_SPLIT == set()
    # A test module split below the limit leaves the list, so that it stays below.
    assert TESTS_STILL_TO_SPLIT - over == set()


# Which part may import which: the decisions never reach for I/O, and the protocol the key ring runs never reaches
# for the server. A prefix on the left may not import a module under any prefix on its right.
LAYERS = {
    "basestation.dispatch.core": ("basestation.dispatch.io", "basestation.dispatch.api", "basestation.dispatch.web"),
    "basestation.dispatch.io": ("basestation.dispatch.api", "basestation.dispatch.web"),
    "protocol": ("basestation", "simulator", "nightwatch", "harness", "bench"),
    "basestation": ("tests", "harness", "bench", "simulator"),
}


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _crossings(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{name} imports {dep}"
        for name, deps in graph.items()
        for dep in deps
        for layer, forbidden in LAYERS.items()
        if _under(name, layer) and any(_under(dep, f) for f in forbidden)
    )


def test_the_core_does_no_io_and_the_protocol_knows_no_server() -> None:
    known = _modules()
    assert _crossings({name: _imports(name, path, known) for name, path in known.items()}) == []


def test_the_layer_check_finds_a_crossing() -> None:
    graph = {
        "basestation.dispatch.core.pipeline": {"basestation.dispatch.io.store", "basestation.dispatch.core.state"},
        "basestation.dispatch.io.store": {"basestation.dispatch.core.state"},
        "protocol.uplink": {"basestation.pseudonyms.table"},
        "basestation.dispatch.core.state": set(),
    }
    assert _crossings(graph) == [
        "basestation.dispatch.core.pipeline imports basestation.dispatch.io.store",
        "protocol.uplink imports basestation.pseudonyms.table",
    ]
