#!/usr/bin/env python3
"""Checks the module structure of wsbox's crates: no import cycle between
the modules of one crate, and no source file longer than a limit (test code
left out).

Usage: scripts/check-structure.py [--max-lines N] [--graph]

It reads the code as text. Each file under a crate's src/ is a module
(src/a.rs and src/a/mod.rs are `a`, src/a/b.rs is `a::b`). An edge from
module M to module N is a path in M's code that names N or an item in N:
`use crate::n::…`, `crate::n::item(…)`, `super::…`, or a child module or an
imported module named at the start of a path. What does not count:
`mod` declarations, `pub use` re-exports (an index, not a dependency),
comments, strings, and `#[cfg(test)]` items. Test code (src/tests/,
testutil.rs) is left out of both checks, and src/bin/ (test tools) too. `--graph`
prints every edge. Exit status 1 when a cycle or an oversized file is found.
"""

import argparse
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRATES = [".", "policies", "sandbox-runtime", "compositor", "testkit"]
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip_comments_and_strings(text):
    """Blanks out comments, string and char literals, keeping line breaks."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
            continue
        if text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append("\n" * text.count("\n", i, j))
            i = j
            continue
        m = re.match(r'b?r(#*)"', text[i:i + 260]) if c in "br" else None
        if m and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j
            continue
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
            continue
        if c == "'":
            # A char literal ('a', '\n', '\u{..}'), not a lifetime ('a).
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", text[i:i + 12])
            if m:
                out.append("' '")
                i += len(m.group(0))
                continue
        out.append(c)
        i += 1
    return "".join(out)


def test_items(code):
    """The spans of `#[cfg(test)]` items (a module block or one item)."""
    spans = []
    for m in re.finditer(r"#\[cfg\(test\)\]", code):
        start, k = m.start(), m.end()
        if spans and start < spans[-1][1]:
            continue
        # The item ends at its closing brace, or at a `;` before any brace.
        depth = 0
        while k < len(code):
            if code[k] == "{":
                depth += 1
            elif code[k] == "}":
                depth -= 1
                if depth == 0:
                    k += 1
                    break
            elif code[k] == ";" and depth == 0:
                k += 1
                break
            k += 1
        spans.append((start, k))
    return spans


def drop_test_items(code):
    """Blanks out `#[cfg(test)]` items, keeping line breaks."""
    out, at = [], 0
    for start, end in test_items(code):
        out.append(code[at:start])
        out.append("\n" * code.count("\n", start, end))
        at = end
    out.append(code[at:])
    return "".join(out)


def test_lines(code):
    """How many lines `#[cfg(test)]` items take."""
    return sum(code.count("\n", start, end) for start, end in test_items(code))


def expand_use_tree(tree):
    """`a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e']."""
    tree = re.sub(r"\s+", "", tree)
    if "{" not in tree:
        return [tree]
    head, rest = tree.split("{", 1)
    body = rest[: rest.rfind("}")]
    parts, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    if cur:
        parts.append(cur)
    out = []
    for part in parts:
        for sub in expand_use_tree(part):
            out.append(head + sub if sub != "self" else head.rstrip(":"))
    return out


class Crate:
    def __init__(self, root):
        self.root = root
        self.src = os.path.join(root, "src")
        self.files = {}  # module path -> file
        for dirpath, dirnames, filenames in os.walk(self.src):
            rel = os.path.relpath(dirpath, self.src)
            if rel.split(os.sep)[0] == "bin":
                continue
            for name in filenames:
                if not name.endswith(".rs"):
                    continue
                path = os.path.join(dirpath, name)
                parts = [] if rel == "." else rel.split(os.sep)
                stem = name[:-3]
                if stem in ("mod", "lib", "main") and (stem == "mod" or not parts):
                    module = "::".join(parts)
                else:
                    module = "::".join(parts + [stem])
                if module == "" and stem == "main" and os.path.exists(
                        os.path.join(self.src, "lib.rs")):
                    continue
                self.files[module] = path

    def is_test(self, module):
        parts = module.split("::")
        return "tests" in parts or "testutil" in parts

    def children(self, module):
        prefix = module + "::" if module else ""
        return {m[len(prefix):] for m in self.files
                if m.startswith(prefix) and m != module and "::" not in m[len(prefix):]}

    def resolve(self, segments):
        """The deepest module a crate-absolute path names."""
        for k in range(len(segments), -1, -1):
            cand = "::".join(segments[:k])
            if cand in self.files:
                return cand
        return ""

    def absolute(self, module, path, aliases):
        """Makes a path as written in `module` crate-absolute, or None when
        it names something outside the crate."""
        segs = [s for s in path.split("::") if s]
        if not segs:
            return None
        here = module.split("::") if module else []
        if segs[0] == "crate":
            return segs[1:]
        if segs[0] in ("self", "super"):
            base = list(here)
            while segs and segs[0] in ("self", "super"):
                if segs.pop(0) == "super":
                    base = base[:-1]
            return base + segs
        if segs[0] in self.children(module):
            return here + segs
        if segs[0] in aliases:
            return aliases[segs[0]] + segs[1:]
        return None

    def edges(self):
        found = {}
        for module, path in self.files.items():
            with open(path, encoding="utf-8") as f:
                code = drop_test_items(strip_comments_and_strings(f.read()))
            aliases = {}
            targets = {}

            def add(abs_segs, why):
                if abs_segs is None:
                    return
                target = self.resolve(abs_segs)
                if target != module:
                    targets.setdefault(target, set()).add(why)

            for m in re.finditer(r"(?m)^\s*(pub(\([^)]*\))?\s+)?use\s+([^;]+);", code):
                is_pub = bool(m.group(1))
                tree = re.sub(r"\s+as\s+" + IDENT, "", m.group(3))
                for p in expand_use_tree(tree):
                    if p.endswith("::*"):
                        p = p[:-3]
                    abs_segs = self.absolute(module, p, aliases)
                    if abs_segs is None:
                        continue
                    target = self.resolve(abs_segs)
                    if "::".join(abs_segs) == target and abs_segs:
                        aliases[abs_segs[-1]] = abs_segs
                    if is_pub:
                        continue
                    add(abs_segs, p.split("::")[-1])
            body = re.sub(r"(?m)^\s*(pub(\([^)]*\))?\s+)?use\s+[^;]+;", "", code)
            body = re.sub(r"(?m)^\s*(pub(\([^)]*\))?\s+)?mod\s+" + IDENT + r"\s*;", "", body)
            for m in re.finditer(r"(?<![A-Za-z0-9_:])((?:" + IDENT + r"::)+)" + IDENT, body):
                abs_segs = self.absolute(module, m.group(0), aliases)
                if abs_segs is not None:
                    add(abs_segs, m.group(0).split("::")[-1])
            found[module] = targets
        return found


def cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, {}):
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
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max-lines", type=int, default=800)
    ap.add_argument("--graph", action="store_true")
    args = ap.parse_args()
    failed = False
    for name in CRATES:
        root = os.path.join(ROOT, name)
        if not os.path.isdir(os.path.join(root, "src")):
            continue
        crate = Crate(root)
        # Test modules depend on everything and nothing depends on them;
        # their own helpers are left to them.
        graph = {m: {t: why for t, why in targets.items() if not crate.is_test(t)}
                 for m, targets in crate.edges().items() if not crate.is_test(m)}
        label = "wsbox" if name == "." else name
        if args.graph:
            for m in sorted(graph):
                for t in sorted(graph[m]):
                    print(f"{label}: {m or '(root)'} -> {t or '(root)'}: "
                          f"{', '.join(sorted(graph[m][t]))}")
        for comp in cycles(graph):
            failed = True
            print(f"{label}: import cycle between {', '.join(c or '(root)' for c in comp)}")
            for m in comp:
                for t in sorted(graph[m]):
                    if t in comp:
                        print(f"    {m or '(root)'} -> {t or '(root)'}: "
                              f"{', '.join(sorted(graph[m][t]))}")
        for module, path in sorted(crate.files.items()):
            if crate.is_test(module):
                continue
            with open(path, encoding="utf-8") as f:
                text = f.read()
            lines = text.count("\n")
            tests = test_lines(strip_comments_and_strings(text))
            if lines - tests > args.max_lines:
                failed = True
                print(f"{os.path.relpath(path, ROOT)}: {lines - tests} lines of code "
                      f"besides tests (limit {args.max_lines})")
    if not failed:
        print(f"structure: no import cycles, no file over {args.max_lines} lines")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
