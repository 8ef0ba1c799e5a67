# The twistd plugin. Keep this import-light: twistd imports every plugin to list them.
# Public API: none (the twistd subcommand `ftpkit` is documented in README.md).
from twisted.application.service import ServiceMaker

ftpkit = ServiceMaker(
    "ftpkit", "ftpkit.server.tap", "A multi-user file server (framed protocol, quotas)", "ftpkit"
)
