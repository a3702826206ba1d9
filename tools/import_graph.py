#!/usr/bin/env python3
"""File-level import graph of a Rust crate's sources, and its circles.

Usage: tools/import_graph.py [--edges] [--check] SRC_DIR [SRC_DIR ...]

For every `.rs` file under SRC_DIR (a crate's `src/`), the module it
defines is derived from its path (`lib.rs` is the crate root, `a/mod.rs` and
`a.rs` are `crate::a`, `a/b.rs` is `crate::a::b`). Every path in the code
that starts with `crate::`, `super::` or `self::` (in `use` trees, grouped
or not, and in expressions and types) is resolved to the deepest module
that is a file; an edge goes from the file that names the path to that
file. Comments, strings and character literals are ignored, so doc links
do not count. `pub use` re-exports count like any import: the file that
re-exports depends on the file it re-exports from.

A module declared inline (`mod tests { ... }`) belongs to its file: a
`super::` inside it is resolved as if it were written one level deeper.
Only the `mod` declaration of a child file (`mod a;`) is not an edge: a
parent naming its children is the tree, not a dependency.

Prints per crate: the number of files, the largest file (lines), the
edges (with --edges), and the strongly connected components with more
than one file (the circles). Exits 1 with --check when a circle exists.
"""

import re
import sys
from pathlib import Path


def strip_code(text):
    """Blanks comments, strings and char literals, keeping line structure."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif (m := re.match(r'b?r(#*)"', text[i:i + 80])) and (
            i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")
        ):
            close = '"' + m.group(1)
            j = text.find(close, i + m.end())
            j = n if j < 0 else j + len(close)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "'":
            # A char literal ('a', '\n', '\u{..}') or a lifetime ('a).
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", text[i:i + 12])
            if m:
                out.append(" " * m.end())
                i += m.end()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def expand_use_tree(tree):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e] (no whitespace)."""
    tree = re.sub(r"\s+", "", tree)
    tree = re.sub(r"\bas\w+", "", tree)  # `x as y` lost its spaces: `xasy`
    paths = []

    def walk(prefix, s):
        depth, start, parts = 0, 0, []
        for k, ch in enumerate(s):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                parts.append(s[start:k])
                start = k + 1
        parts.append(s[start:])
        for part in filter(None, parts):
            brace = part.find("{")
            if brace < 0:
                paths.append(prefix + part)
            else:
                walk(prefix + part[:brace], part[brace + 1:part.rfind("}")])

    walk("", tree)
    return paths


def module_of(src, path):
    rel = path.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("lib", "main", "mod"):
        parts.pop()
    return tuple(parts)


def inline_module_depth(code, pos):
    """How many inline `mod x { ... }` blocks enclose offset `pos`."""
    depth, stack = 0, []
    for m in re.finditer(r"\bmod\s+\w+\s*\{|[{}]", code[:pos]):
        tok = m.group(0)
        if tok.startswith("mod"):
            stack.append(True)
            depth += 1
        elif tok == "{":
            stack.append(False)
        elif stack and stack.pop():
            depth -= 1
    return depth


def resolve(path, here, depth, modules):
    """The deepest file module a `crate::`/`super::`/`self::` path names."""
    segs = [s for s in path.split("::") if s]
    if not segs:
        return None
    base = list(here)
    if segs[0] == "crate":
        base, segs = [], segs[1:]
    else:
        inline = depth
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                if inline:
                    inline -= 1
                elif base:
                    base.pop()
            segs = segs[1:]
        if inline:
            return here  # still inside this file's inline module
    target = tuple(base)
    for seg in segs:
        if seg == "*" or seg == "self":
            break
        nxt = target + (seg,)
        if nxt in modules:
            target = nxt
        else:
            break
    return target


PATH_RE = re.compile(r"\b(?:crate|super|self)(?:\s*::\s*\w+)+")
USE_RE = re.compile(r"\buse\s+((?:crate|super|self)\b[^;]*);")


def graph(src):
    files = {module_of(src, p): p for p in sorted(src.rglob("*.rs"))}
    modules = set(files)
    edges = {m: set() for m in files}
    for mod, path in files.items():
        code = strip_code(path.read_text())
        spans = []
        for m in USE_RE.finditer(code):
            spans.append((m.start(), m.end()))
            depth = inline_module_depth(code, m.start())
            for p in expand_use_tree(m.group(1)):
                t = resolve(p, mod, depth, modules)
                if t is not None and t != mod:
                    edges[mod].add(t)
        for m in PATH_RE.finditer(code):
            if any(a <= m.start() < b for a, b in spans):
                continue
            depth = inline_module_depth(code, m.start())
            t = resolve(re.sub(r"\s+", "", m.group(0)), mod, depth, modules)
            if t is not None and t != mod:
                edges[mod].add(t)
    return files, edges


def sccs(edges):
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def name(mod):
    return "::".join(mod) or "crate"


def main(argv):
    show_edges = "--edges" in argv
    check = "--check" in argv
    dirs = [a for a in argv if not a.startswith("--")]
    if not dirs:
        print(__doc__)
        return 2
    failed = False
    for d in dirs:
        src = Path(d)
        files, edges = graph(src)
        sizes = {m: len(p.read_text().splitlines()) for m, p in files.items()}
        big = max(sizes, key=sizes.get)
        print(f"{src}: {len(files)} files, largest {files[big].relative_to(src)} "
              f"({sizes[big]} lines), {sum(map(len, edges.values()))} edges")
        if show_edges:
            for m in sorted(edges):
                if edges[m]:
                    print(f"  {name(m)} -> {', '.join(name(t) for t in sorted(edges[m]))}")
        circles = [c for c in sccs(edges) if len(c) > 1]
        print(f"  circles: {len(circles)}")
        for c in circles:
            failed = True
            print(f"  circle of {len(c)}: {' '.join(name(m) for m in c)}")
            for m in c:
                inside = sorted(t for t in edges[m] if t in c)
                print(f"    {name(m)} -> {', '.join(name(t) for t in inside)}")
    return 1 if (check and failed) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
