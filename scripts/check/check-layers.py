#!/usr/bin/env python3
"""Fails when the crate's top-level modules import each other in a cycle.

The layer rule (CONTRIBUTING.md): data flows credentials -> exchange -> refresh -> sinks and
servers -> commands; lower layers never import higher ones, so the graph of top-level modules
has no cycle. This reads every `crate::MODULE` path in src/ (test code excluded: everything
from a file's first `#[cfg(test)]` on, and files named tests.rs) and prints any cycle.
"""

import pathlib
import re
import sys

SRC = pathlib.Path(__file__).resolve().parents[2] / "src"
PATH = re.compile(r"\bcrate::(\w+)")
# `use crate::{a::x, b::{y, z}}`: the first segment of each top-level item in the braces.
GROUP = re.compile(r"\buse\s+crate::\{")


def module_of(path: pathlib.Path) -> str:
    part = path.relative_to(SRC).parts[0]
    return part[:-3] if part.endswith(".rs") else part


def grouped(text: str):
    """The first segment of each item in `use crate::{...}` groups."""
    for match in GROUP.finditer(text):
        depth, items, item = 1, [], ""
        for c in text[match.end():]:
            depth += {"{": 1, "}": -1}.get(c, 0)
            if depth == 0:
                break
            if depth == 1 and c == ",":
                items.append(item)
                item = ""
            else:
                item += c
        items.append(item)
        for item in items:
            name = re.match(r"\s*(\w+)", item)
            if name:
                yield name.group(1)


def edges():
    graph = {}
    for path in sorted(SRC.rglob("*.rs")):
        if path.name == "tests.rs" or path.parent == SRC and path.name in ("lib.rs", "main.rs"):
            continue
        text = path.read_text()
        text = text.split("#[cfg(test)]", 1)[0]
        # Comments may name modules without importing them.
        text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
        source = module_of(path)
        targets = set(PATH.findall(text)) | set(grouped(text))
        for target in targets:
            is_module = (SRC / target).is_dir() or (SRC / f"{target}.rs").exists()
            if target != source and is_module:
                graph.setdefault(source, set()).add(target)
    return graph


def cycles(graph):
    found, state, stack = [], {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def main():
    graph = edges()
    found = cycles(graph)
    if "-v" in sys.argv:
        for node in sorted(graph):
            print(f"{node} -> {', '.join(sorted(graph[node]))}")
    for cycle in found:
        print("cycle: " + " -> ".join(cycle))
    print(f"check-layers: {len(graph)} modules, {len(found)} cycle(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
