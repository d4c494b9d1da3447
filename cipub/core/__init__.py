"""Core: errors and exit codes, package files, the manifest, HTTP transport, secrets, settings.

Nothing here knows about commands, targets or engines; every other layer builds on it.
"""
