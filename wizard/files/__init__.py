"""The configuration files, read and edited losslessly, and written whole or not at all.

- `maincf`: main.cf, read as Postfix reads it, edited changing the fewest lines.
- `mastercf`: master.cf's services, their chroot column, ports and -o overrides.
- `dovecot/`: Dovecot's files in 2.3 and 2.4 syntax (`dialects` says what differs).
- `text`: reading a file losslessly and splitting it into lines as the daemons do.
- `atomic`: replacing a file atomically, keeping its owner, mode and SELinux label.
- `selinux`: the SELinux mode, file labels (kept, or the policy's for a new file), port labels.

May import: wizard's base modules only (errors, values, findings, styled). Nothing here knows the
settings model or the server: these are file formats (docs/architecture.md).
"""
