"""Policy: the rules that are the same on every target and engine.

Build numbers, the build matrix (plan) and which cell a job builds (cells), noarch advice, the
upload policy (never force) and promotion by manifest. Targets and engines do I/O only; the
decisions live here. Workflows (:mod:`cipub.workflows`) apply them; nothing here prints.
"""
