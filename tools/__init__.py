"""Scripts that measure the project: speed against TRL and its parts (perf/), answer-checker agreement (checker/).

They may import anything; nothing in the library imports them. Run them from the repository root with
``python -m tools.<group>.<script>``; each writes its figures under ``results/``.
"""
