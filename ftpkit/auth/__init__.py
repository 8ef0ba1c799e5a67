"""
Users: the user database, password hashing, the Cred checker, realm and avatar.

Public API: L{ftpkit.auth.avatar.IAvatar}, as C{context.avatar}; the rest is internal.
"""
