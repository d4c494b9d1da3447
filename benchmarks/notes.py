"""Explanations that go under each scenario's table in docs/benchmarks.md (what bounds a figure,
what a profile showed). Kept apart from the measuring code so the document can say why."""

NOTES: dict[str, str] = {}
