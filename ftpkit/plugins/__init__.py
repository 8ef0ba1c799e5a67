"""
The plugin package through which every command is found, built-in or not.

A third-party distribution adds commands by installing a module into
C{ftpkit/plugins/} (without an C{__init__.py}); see docs/plugins.md. Extending
C{__path__} lets such modules live in any directory on C{sys.path}, which also
makes editable installs work.
"""

from twisted.plugin import pluginPackagePaths

__path__.extend(pluginPackagePaths(__name__))
__all__: list[str] = []
