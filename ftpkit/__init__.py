"""ftpkit: a multi-user file server on Twisted."""

__version__ = "0.1.0"
