"""
ftpkit: a multi-user file server on Twisted.

Public API for command authors: L{ftpkit.commands} (see docs/plugins.md); for
clients: L{ftpkit.client.Client}. Other modules say what, if anything, they offer.
"""

__version__ = "0.1.0"
