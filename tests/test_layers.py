"""The house rules of docs/architecture.md, checked against the tree: every module has its room
on a floor of the floor table, imports only its own floor or lower ones, and no import circle
exists (imports under TYPE_CHECKING and inside functions count: they are circles all the same,
only deferred). Every path the document names exists.

The floor table is read from the document itself, so the rule is written once.
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "hub"
DOC = ROOT / "docs" / "architecture.md"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(path: Path, known: dict[str, Path]) -> set[str]:
    """The hub modules `path` imports, anywhere in it. `from hub.x import y` names the module
    hub.x.y when y is one, else hub.x."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in known else node.module)
    return {name for name in found if name in known}


def floors() -> list[list[str]]:
    """The rooms of each floor, bottom first, from the document's floor table: rows
    `| N | rooms... |` under the heading `## Floors`, a room written `hub/x/` (a package) or
    `hub/x.py` (a module)."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("\n## Floors", 1)[1].split("\n## ", 1)[0]
    table: dict[int, list[str]] = {}
    for line in section.splitlines():
        row = re.match(r"\|\s*(\d+)\s*\|(.*?)\|", line)
        if row:
            rooms = re.findall(r"`(hub/[\w/]*?)(?:\.py|/)`", row.group(2))
            # `hub/__init__.py` is the room of the package module `hub` alone.
            names = [room.replace("/", ".").removesuffix(".__init__") for room in rooms]
            table[int(row.group(1))] = names
    assert table, "docs/architecture.md has no floor table under `## Floors`"
    return [table[number] for number in sorted(table)]


def floor_of(module: str, rooms_by_floor: list[list[str]]) -> int | None:
    """The floor of the most specific room holding `module` (hub.x.y is in room hub.x)."""
    best: tuple[int, int] | None = None
    for number, rooms in enumerate(rooms_by_floor):
        for room in rooms:
            # The package `hub` is a room of its own, not a room holding every module.
            inside = module == room or (room != "hub" and module.startswith(room + "."))
            if inside and (best is None or len(room) > best[1]):
                best = (number, len(room))
    return None if best is None else best[0]


def test_every_module_has_a_room_on_a_floor() -> None:
    table = floors()
    homeless = [name for name in modules() if floor_of(name, table) is None]
    assert not homeless, f"modules with no room in docs/architecture.md's floor table: {homeless}"


def test_modules_import_only_their_floor_or_below() -> None:
    table = floors()
    known = modules()
    upward = []
    for name, path in known.items():
        floor = floor_of(name, table)
        for target in imported_modules(path, known):
            target_floor = floor_of(target, table)
            if floor is not None and target_floor is not None and target_floor > floor:
                upward.append(f"{name} (floor {floor}) imports {target} (floor {target_floor})")
    assert not upward, "imports going up a floor:\n" + "\n".join(upward)


def find_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or around a loop (Tarjan's
    strongly connected components of more than one module)."""
    circles = []
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for name in graph:
        if name not in index:
            visit(name)
    return circles


def test_no_import_circles() -> None:
    known = modules()
    graph = {name: imported_modules(path, known) - {name} for name, path in known.items()}
    circles = find_circles(graph)
    assert not circles, f"import circles: {circles}"


def test_the_document_names_only_what_exists_and_every_package_has_its_room() -> None:
    text = DOC.read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:hub|tests|benchmarks|dashboard)/[\w/.-]*)`", text))
    missing = sorted(path for path in named if not (ROOT / path).exists())
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"
    packages = sorted(
        str(init.parent.relative_to(ROOT)) + "/" for init in PACKAGE.rglob("*/__init__.py")
    )
    roomless = [package for package in packages if f"`{package}`" not in text]
    assert not roomless, f"packages with no room in docs/architecture.md: {roomless}"


def test_the_checker_sees_an_upward_import_and_a_circle(tmp_path: Path) -> None:
    # The rules above must be able to fail: a module of floor 0 importing one of floor 1 is
    # caught, and so is a two-module circle.
    table = [["hub.low"], ["hub.high"]]
    assert floor_of("hub.low.thing", table) == 0 and floor_of("hub.high", table) == 1
    source = tmp_path / "module.py"
    source.write_text("from hub.high import x\nimport hub.low.thing\n", encoding="utf-8")
    known = {"hub.high": source, "hub.low.thing": source}
    assert imported_modules(source, known) == {"hub.high", "hub.low.thing"}
    loop = {"hub.a": {"hub.b"}, "hub.b": {"hub.c"}, "hub.c": {"hub.a"}, "hub.d": {"hub.a"}}
    assert find_circles(loop) == [["hub.a", "hub.b", "hub.c"]]
    assert find_circles({"hub.a": {"hub.b"}, "hub.b": set()}) == []
