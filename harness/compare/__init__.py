"""The head-to-head comparison (`rlvr-zoo compare`; docs/harness.md):

* `runner`: the plan (preset, arms, seeds, --set), training and evaluating every arm under identical conditions,
  resuming, and the leaderboards and curves of the comparison folder;
* `page`: the comparison's self-contained ``index.html`` (verdicts, tables and curves).

It reads the leaderboard (`harness.leaderboard`) and runs the trainer (`harness.training`); neither imports it.
"""
