"""Leaderboards from comparison directories: one row per algorithm (and per variant), a column per benchmark.

* `collect`: reads the run files of a directory into typed `Row`s (seeds pooled, 95% intervals, training dynamics),
  and merges and filters rows of several directories;
* `views`: the verdicts, scores, delta and dynamics views of the rows as plain records;
* `verdicts`: the statistics of the verdicts view (hierarchical intervals, Holm-corrected verdicts, minimum
  detectable difference) from `stats` (the statistics over seeds and problems);
* `render`: a view as md, csv, latex, html or json text, and `write_all` (every view in every format);
* `markdown_blocks`: tables kept inside Markdown files, regenerated in place.

Dependencies run one way: result_files <- collect <- verdicts <- views <- render; markdown_blocks takes the table of a block from its caller.
"""
from harness.leaderboard.collect import (BOOTSTRAP_SAMPLES, DYNAMICS_KEYS, Cell, Row, benches_of, collect, merge,
                                         metrics_files, select)
from harness.leaderboard.result_files import DuplicateRunWarning, PartialRunWarning
from harness.leaderboard.markdown_blocks import BLOCK_CLOSE, BLOCK_OPEN, refresh
from harness.leaderboard.render import (EXTENSIONS, FORMATS, delta_table, dynamics_table, render, table, verdict_parts,
                                        write_all)
from harness.leaderboard.views import DEFAULT_VIEW, VIEWS, delta_rows, dynamics_rows, scores_rows, verdict_record

__all__ = ["BOOTSTRAP_SAMPLES", "DYNAMICS_KEYS", "Cell", "DuplicateRunWarning", "PartialRunWarning", "Row", "benches_of", "collect", "merge", "metrics_files",
           "select", "BLOCK_CLOSE", "BLOCK_OPEN", "refresh", "EXTENSIONS", "FORMATS", "delta_table",
           "dynamics_table", "render", "table", "write_all", "DEFAULT_VIEW", "VIEWS", "delta_rows", "dynamics_rows",
           "scores_rows", "verdict_parts", "verdict_record"]
