"""
The command-line programs: ftpkit and ftpkit-admin. The only code that prints.

Public API: the commands' behaviour as README.md documents it; no Python names.
"""
