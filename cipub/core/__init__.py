"""Core: the options registry and settings, errors and exit codes, package files, the manifest,
HTTP transport, secrets.

Nothing here knows about commands, targets or engines; every other layer builds on it.
"""
