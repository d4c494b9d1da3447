"""cipub: take conda packages from recipe to a published, promoted release.

The packages are layers; each uses only the ones below it:

=====================================  ==========================================================
``cipub.cli``                          the command line: parse, settings, one workflow call, report
``cipub.workflows``                    the library API, one function per command
``cipub.policy``                       the rules, the same on every target and engine
``cipub.channels`` / ``engines`` /     targets (I/O only), build engines, reading recipes;
``recipe`` / ``ci``                    ``ci``: outputs and files for GitHub Actions / GitLab CI
``cipub.core``                         options and settings, errors, packages, manifest, HTTP, secrets
=====================================  ==========================================================
"""

__version__ = "0.1.0"
