"""
The Deferred-based client library.

Public API: L{Client}, L{RemoteError}, L{ConnectionClosed}, L{ProtocolError}.
"""

from ftpkit.client.api import Client
from ftpkit.client.protocol import ClientProtocol, ConnectionClosed, ProtocolError, RemoteError

__all__ = ["Client", "ClientProtocol", "ConnectionClosed", "ProtocolError", "RemoteError"]
