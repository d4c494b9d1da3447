"""CI integration: what cipub tells the CI provider it runs under, and the CI jobs of a plan.

* :mod:`cipub.ci.provider` -- which provider (GitHub Actions, GitLab CI) and its channels: step
  outputs (``$GITHUB_OUTPUT``, the GitLab dotenv report) and ``::add-mask::``.
* :mod:`cipub.ci.reports` -- what a command publishes: the outputs and the step summary of a
  manifest (build, upload, promote) or a plan.
* :mod:`cipub.ci.matrix` -- a plan rendered as CI jobs: the GitHub ``strategy.matrix`` and the GitLab
  child pipeline.

The layer sits between the workflows and the policy: it may use ``cipub.policy`` and ``cipub.core``;
nothing below imports it (``cipub.core.secrets`` is handed the masker by the CLI). This package
module stays empty: import the module you need.
"""
