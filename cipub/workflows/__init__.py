"""Workflows: the library API a command calls, one function per command.

========================  =================================================================
``build.build``           decide build numbers, build (one plan cell or the whole recipe), write
                          the manifest, upload it to the staging label
``publish.upload``        upload a manifest's files (or package files) with the never-force policy
``publish.promote``       promote exactly a manifest's files to another label, verified
``plan.plan``             the build matrix of a recipe, rendered as text, JSON, GitHub or GitLab
``verify.verify``         the staged files are on the label with their sha256, and install
``ci.init``               starter CI files; ``ci.report_plan``, ``ci.gitlab_pipeline``: CI steps
========================  =================================================================

Each takes :class:`~cipub.core.options.Settings` plus what the command line said, does the work
through :mod:`cipub.policy`, the targets (:mod:`cipub.channels`), engines and recipes, and returns
a result for the caller to show. Human progress lines go to the ``report`` argument (a
:class:`~cipub.workflows.report.Reporter`; silent by default), so the same calls serve the CLI,
tests and other programs. Nothing here parses a command line or exits the process.

Layers: cli -> workflows -> policy -> channels / engines / recipe -> core.
"""
