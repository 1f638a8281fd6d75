#!/usr/bin/env python3
"""ops_architecture_files: docs/ARCHITECTURE.md names every source, script and document of the
tree, so a newcomer finds each file's role there (issue 14).

The files that must be named are those `git ls-files` lists (committed, or new and not
ignored) with a source or documentation suffix (.c .h .py .sh .js .cjs .lua .md) and the
executable scripts without a suffix (`run`, `stream4flow`); fuzz corpora and test data are
not. ARCHITECTURE.md names a file with a backticked token on one line (a table row, a bullet):
  - its path, or a pattern of paths (`workers/engine.[ch]`, `workers/analyses/*.c`);
  - or its name (or a pattern) relative to the directory of a path named on the same line:
    "`workers/analysis.h`, `registry.c`" names workers/registry.c, and
    "`collector/decode/` ... (`netflow_v5.c`)" names collector/decode/netflow_v5.c.
A directory alone names none of its files. Exit 77 (skipped) outside a git checkout."""
import fnmatch
import os
import re
import subprocess
import sys

SUFFIXES = (".c", ".h", ".py", ".sh", ".js", ".cjs", ".lua", ".md")
EXCLUDED_DIRS = ("corpus", "data", "testdata")


def tracked(src):
    """The tracked files that must be named: {path: executable}."""
    out = subprocess.run(["git", "-C", src, "ls-files", "-s"], capture_output=True, text=True)
    if out.returncode != 0:
        return None
    entries = []
    for line in out.stdout.splitlines():
        meta, path = line.split("\t", 1)
        entries.append((meta.split()[0], path))
    # files not committed yet (and not ignored) too, so a new file is caught before its commit
    new = subprocess.run(["git", "-C", src, "ls-files", "--others", "--exclude-standard"],
                         capture_output=True, text=True)
    for path in new.stdout.splitlines():
        executable = os.access(os.path.join(src, path), os.X_OK)
        entries.append(("100755" if executable else "100644", path))
    files = []
    for mode, path in entries:
        parts = path.split("/")
        if any(p in EXCLUDED_DIRS for p in parts[:-1]):
            continue
        name = parts[-1]
        if name.endswith(SUFFIXES) or (mode == "100755" and "." not in name):
            files.append(path)
    return files


def patterns(doc):
    """Every path pattern the document names, resolved as described above."""
    pats = set()
    for line in doc.splitlines():
        tokens = [t.strip() for t in re.findall(r"`([^`\n]+)`", line)]
        tokens = [t for t in tokens if t and " " not in t]
        dirs = set()
        for t in tokens:
            if "/" in t:
                dirs.add(t if t.endswith("/") else t.rsplit("/", 1)[0] + "/")
        for t in tokens:
            if t.endswith("/"):
                continue
            pats.add(t[2:] if t.startswith("./") else t)
            if "/" not in t:
                for d in dirs:
                    pats.add(d + t)
            else:
                # a path relative to a directory named on the line ("`tests/` ... `tools/x.py`")
                for d in dirs:
                    pats.add(d + t)
    return pats


def named(path, pats):
    # `*` stays within one directory: `workers/*.c` does not name workers/tests/x.c
    return any(path.count("/") == p.count("/") and fnmatch.fnmatchcase(path, p) for p in pats)


def main():
    src = os.environ.get("S4F_SOURCE_DIR") or os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    files = tracked(src)
    if files is None:
        print("not a git checkout: skipped")
        return 77
    doc = open(os.path.join(src, "docs", "ARCHITECTURE.md"), encoding="utf-8").read()
    pats = patterns(doc)
    missing = [f for f in files if not named(f, pats)]
    for f in missing:
        print(f"docs/ARCHITECTURE.md does not name {f}")
    if missing:
        print(f"{len(missing)} of {len(files)} files not named: add them to the source tree "
              "table of docs/ARCHITECTURE.md")
        return 1
    print(f"all {len(files)} source, script and document files are named")
    return 0


if __name__ == "__main__":
    sys.exit(main())
