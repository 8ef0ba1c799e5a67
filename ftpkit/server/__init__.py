"""The server: sessions, their factory, configuration and the twistd service."""
