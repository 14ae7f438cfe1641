"""Where the wizard looks by default: the server's configuration and the backup sets.

Kept apart from the modules that read those places so the command line can name them in its
help without importing the settings model.
"""

from pathlib import Path

DEFAULT_POSTFIX_DIR = Path("/etc/postfix")
DEFAULT_DOVECOT_DIR = Path("/etc/dovecot")
DEFAULT_BACKUP_DIR = Path("/var/backups/postfix-wizard")
