#!/usr/bin/env python3
"""The import rules of docs/architecture.md, computed from src/ so the claim can fail.

Reads every `crate::`, `super::`, `self::` and child-module path in src/**/*.rs (use lines and paths in code; a
trailing `#[cfg(test)] mod tests` block is left out), resolves each to the file that defines the item (following a
mod.rs's `pub use` re-exports), and fails on:
  - a circle between files (a strongly connected component of two or more files). A folder's mod.rs composing
    its own children (declaring, re-exporting or calling down) is structure, not an import;
  - a circle between top-level modules (each folder or file directly under src/ as one node);
  - a file under src/commands/ importing another command file (commands/mod.rs, the dispatcher, excepted;
    commands/ci/ may use its own children);
  - a file importing a file on a higher floor (FLOORS below, the same list as docs/architecture.md);
  - a file on no floor;
  - an engine or flow file printing a workflow command (`"::error` ...) itself: only src/notice.rs and the
    edges (github/, report/) write them.
Prints the figures: files per floor, circles, sibling imports, printers. Exit 1 when a rule is broken.
"""
import os
import re
import sys
from collections import defaultdict

SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

# The floors of docs/architecture.md, top to bottom. A file may import its own floor and the floors below it,
# never one above (ALLOWED_UP lists the documented exceptions).
FLOORS = [
    ("entry", ["main.rs", "lib.rs"]),
    ("commands", ["commands/", "cli.rs", "cli_help.rs"]),
    ("flow", ["flow/", "workspace.rs"]),
    ("error", ["error.rs"]),
    ("edges", ["github/", "report/"]),
    ("engines", ["detect/", "deploy/", "store/", "dbt/", "dags/", "impact/", "config/", "platform/", "git.rs", "child/",
                 "cancel.rs", "init/", "doctor/"]),
    ("leaves", ["notice.rs", "error_kind.rs", "exit_code.rs", "output_keys.rs", "hash.rs", "random.rs", "glob.rs",
                "change_status.rs", "redact.rs", "plural.rs", "verbose.rs", "style.rs", "malloc_arenas.rs",
                "progress.rs"]),
]
RANK = {name: rank for rank, (name, _) in enumerate(FLOORS)}
USE = re.compile(r"\buse\s+([^;]+);")
REEXPORT = re.compile(r"\bpub(?:\([a-z]+\))?\s+use\s+([^;]+);")
PATH = re.compile(r"\b(?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+")
WORKFLOW_COMMAND = re.compile(r'"::(?:error|warning|notice|debug|group|endgroup|add-mask|stop-commands)\b')


def floor(rel):
    for name, prefixes in FLOORS:
        if any(rel == prefix or (prefix.endswith("/") and rel.startswith(prefix)) for prefix in prefixes):
            return name
    return "unplaced"


def module_of(rel):
    parts = rel[:-3].split("/")
    return parts[:-1] if parts[-1] in ("mod", "lib", "main") else parts


def strip(text):
    text = re.sub(r"//[^\n]*", "", text)
    cut = re.search(r"#\[cfg\(test\)\]\s*mod tests", text)
    return text[: cut.start()] if cut else text


def expand(tree):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]."""
    tree = tree.strip()
    brace = tree.find("{")
    if brace < 0:
        return [tree.split(" as ")[0].strip()]
    head, body = tree[:brace], tree[brace + 1 : tree.rfind("}")]
    parts, depth, current = [], 0, ""
    for char in body:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += char == "{"
        depth -= char == "}"
        current += char
    parts.append(current)
    return [head + item if item != "self" else head.rstrip(":") for part in parts if part.strip()
            for item in expand(part)]


def paths(text):
    """Every module path a file names, as crate/super/self paths."""
    children = re.findall(r"\bmod\s+([a-z_][a-z0-9_]*)\s*;", text)
    uses = [path for use in USE.finditer(text) for path in expand(use.group(1))]
    body = USE.sub("", text)
    found = [path for path in uses if path.startswith(("crate::", "super::", "self::"))]
    found += [match.group(0) for match in PATH.finditer(body)]
    if children:
        # A parent names its child modules without a prefix: `local::open(..)`, `use plan::Plan;`.
        child = re.compile(r"(?<![:\w])(?:" + "|".join(children) + r")(?:::[A-Za-z_][A-Za-z0-9_]*)+")
        found += ["self::" + path for path in uses if path.split("::")[0] in children]
        found += ["self::" + match.group(0) for match in child.finditer(body)]
    return found


def segments_of(rel, path):
    segments = path.split("::")
    if segments[0] == "crate":
        return segments[1:]
    base = module_of(rel)
    while segments and segments[0] in ("super", "self"):
        base = base[:-1] if segments[0] == "super" else base
        segments = segments[1:]
    return base + segments


def file_of(module_path, files):
    """The file of the longest prefix of a module path."""
    for end in range(len(module_path), 0, -1):
        prefix = "/".join(module_path[:end])
        for candidate in (prefix + ".rs", prefix + "/mod.rs"):
            if candidate in files:
                return candidate
    return "lib.rs"


def resolve(rel, path, files, reexports, depth=0):
    module = segments_of(rel, path)
    target = file_of(module, files)
    owner = module_of(target)
    rest = module[len(owner):]
    exported = reexports[target].get(rest[0]) if rest else None
    if exported and depth < 8:
        # A name a mod.rs re-exports resolves to the file that defines it.
        return resolve(target, "::".join([exported] + rest[1:]), files, reexports, depth + 1)
    return target


def components(nodes, edges):
    """Tarjan's strongly connected components of two or more nodes."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    sys.setrecursionlimit(10000)

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in nodes:
        if node not in index:
            visit(node)
    return found


def main():
    files = {}
    for directory, _, names in os.walk(SRC):
        for name in names:
            if name.endswith(".rs"):
                full = os.path.join(directory, name)
                with open(full, encoding="utf-8") as source:
                    files[os.path.relpath(full, SRC)] = strip(source.read())
    reexports = {}
    for rel, text in files.items():
        reexports[rel] = {}
        for use in REEXPORT.finditer(text):
            for path in expand(use.group(1)):
                if not path.endswith("*"):
                    qualified = path if path.startswith(("crate::", "super::", "self::")) else "self::" + path
                    reexports[rel][path.split("::")[-1]] = "::".join(["crate"] + segments_of(rel, qualified))
    edges = defaultdict(set)
    for rel, text in files.items():
        if rel in ("lib.rs", "main.rs"):
            continue
        for path in paths(REEXPORT.sub("", text)):
            target = resolve(rel, path, files, reexports)
            # A folder's mod.rs composes its own children: calling down is structure, not an import.
            inside = rel.endswith("mod.rs") and target.startswith(os.path.dirname(rel) + "/")
            if target != rel and not inside:
                edges[rel].add(target)

    circles = components(sorted(files), edges)
    unit = lambda rel: rel.split("/")[0].removesuffix(".rs")
    unit_edges = defaultdict(set)
    for rel, targets in edges.items():
        for target in targets:
            if unit(rel) != unit(target):
                unit_edges[unit(rel)].add(unit(target))
    unit_circles = components(sorted({unit(rel) for rel in files}), unit_edges)
    siblings = sorted(
        (rel, target) for rel, targets in edges.items() for target in targets
        if rel.startswith("commands/") and target.startswith("commands/") and target != "commands/mod.rs"
        and not (rel.startswith("commands/ci/") and target.startswith("commands/ci/"))
    )
    upward = sorted(
        (rel, target) for rel, targets in edges.items() for target in targets
        if floor(rel) != "unplaced" and floor(target) != "unplaced" and RANK[floor(target)] < RANK[floor(rel)]
    )
    printers = sorted(rel for rel, text in files.items()
                      if WORKFLOW_COMMAND.search(text) and floor(rel) in ("engines", "flow", "commands"))

    per_floor = defaultdict(int)
    for rel in files:
        per_floor[floor(rel)] += 1
    names = [name for name, _ in FLOORS] + ["unplaced"]
    print("files per floor: " + ", ".join(f"{name} {per_floor[name]}" for name in names if per_floor[name]))
    print(f"circles between files: {len(circles)}")
    for component in circles:
        print(f"  {len(component)} files: {' '.join(component)}")
    print(f"circles between top-level modules: {len(unit_circles)}")
    for component in unit_circles:
        print(f"  {len(component)} modules: " + "; ".join(
            f"{node} -> {','.join(sorted(unit_edges[node] & set(component)))}" for node in component))
    print(f"imports from a lower floor up to a higher one: {len(upward)}")
    for rel, target in upward:
        print(f"  {rel} ({floor(rel)}) -> {target} ({floor(target)})")
    print(f"command files importing another command: {len(siblings)}")
    for rel, target in siblings:
        print(f"  {rel} -> {target}")
    print(f"engine, flow or command files printing workflow commands: {len(printers)}")
    for rel in printers:
        print(f"  {rel}")
    unplaced = sorted(rel for rel in files if floor(rel) == "unplaced")
    for rel in unplaced:
        print(f"  not on any floor (add it to FLOORS and docs/architecture.md): {rel}")
    return 1 if circles or unit_circles or siblings or printers or upward or unplaced else 0


if __name__ == "__main__":
    sys.exit(main())
