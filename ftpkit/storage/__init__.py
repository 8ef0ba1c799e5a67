"""
Storage: the storage interface, the jailed local filesystem, quota accounting.

Commands reach a user's files only through the L{IStorage} provider on their
avatar, with canonical virtual paths from L{ftpkit.storage.paths.resolve}.

Public API: L{IStorage}, L{Entry} and L{Page} (see L{ftpkit.storage.interfaces});
L{ftpkit.storage.paths}; L{ftpkit.storage.quota.QuotaAccount}.
"""

from ftpkit.storage.interfaces import Entry, IStorage, Page
from ftpkit.storage.local import LocalStorage

__all__ = ["Entry", "IStorage", "LocalStorage", "Page"]
