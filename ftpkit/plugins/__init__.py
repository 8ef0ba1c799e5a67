"""
The plugin package through which every command is found, built-in or not.

A third-party distribution adds commands by installing a module into
C{ftpkit/plugins/} (without an C{__init__.py} of its own, in C{ftpkit/} or in
C{ftpkit/plugins/}); see docs/plugins.md. Extending C{__path__} with every
C{ftpkit/plugins} directory on C{sys.path} lets such modules live in any of them
(another site-packages, a source checkout put on the path by an editable install).

twisted.plugin keeps a C{dropin.cache} (a pickle) in each of those directories
and loads it at startup, so each must be writable only by users trusted to run
code in the server.

Public API: the package name C{ftpkit.plugins}, as the place to install plugin
modules. The modules in it are not for importing.
"""

from twisted.plugin import pluginPackagePaths

__path__.extend(pluginPackagePaths(__name__))
__all__: list[str] = []
