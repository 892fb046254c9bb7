"""Tables kept inside Markdown files, regenerated in place (`rlvr-zoo leaderboard --refresh FILE.md [--check]`).

A block is the lines between an opening line ``<!-- rlvr-zoo leaderboard ARGS -->`` and the closing line
``<!-- /rlvr-zoo leaderboard -->``. Its content is whatever the caller's `table_for(args, base_dir)` returns for
ARGS (a string of command-line arguments; directories in it are relative to `base_dir`, the Markdown file's folder).
This module finds and replaces blocks; the meaning of ARGS belongs to the `leaderboard` command, which parses them
with its own argument parser.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

BLOCK_OPEN = "<!-- rlvr-zoo leaderboard "
BLOCK_CLOSE = "<!-- /rlvr-zoo leaderboard -->"

TableFor = Callable[[str, Path], str]


def _opening_args(line: str) -> str | None:
    """ARGS of an opening line, None for any other line."""
    stripped = line.strip()
    if stripped.startswith(BLOCK_OPEN) and stripped.endswith("-->"):
        return stripped[len(BLOCK_OPEN):-3].strip()
    return None


def refresh(path: str | Path, table_for: TableFor, check: bool = False) -> tuple[int, list[str]]:
    """Regenerate every block of the Markdown file `path`. Returns the number of blocks and the ARGS of the blocks
    whose content changed; the file is rewritten (atomically) when one changed, unless `check`."""
    from harness.io import write_text

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such Markdown file")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    out: list[str] = []
    changed: list[str] = []
    blocks = 0
    i = 0
    while i < len(lines):
        args_text = _opening_args(lines[i])
        if args_text is None:
            out.append(lines[i])
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == BLOCK_CLOSE), None)
        if end is None:
            raise ValueError(f"{path}:{i + 1}: block '{args_text}' has no closing line '{BLOCK_CLOSE}'")
        table = table_for(args_text, path.parent)
        blocks += 1
        if "".join(lines[i + 1:end]) != table:
            changed.append(args_text)
        out += [lines[i], table, lines[end]]
        i = end + 1
    if not blocks:
        raise ValueError(f"{path}: no table block; mark one with a line '{BLOCK_OPEN}RUN_DIR --view VIEW -->' "
                         f"and a closing line '{BLOCK_CLOSE}'")
    if changed and not check:
        write_text(path, "".join(out))
    return blocks, changed
