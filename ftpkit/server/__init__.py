"""
The server: sessions, their factory, configuration and the twistd service.

Public API: none, except what commands see through their context
(L{ftpkit.server.policy.SessionPolicy} as C{context.config}).
"""
