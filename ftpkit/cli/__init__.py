"""The command-line programs: ftpkit and ftpkit-admin. The only code that prints."""
