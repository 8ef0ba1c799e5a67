"""Users: the user database, password hashing, the Cred checker, realm and avatar."""
