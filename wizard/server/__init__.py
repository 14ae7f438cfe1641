"""The server as read: its files, its current settings, and its installed software.

- `state`: `Server`, the files as read, their current values, and the server after a change.
- `versions`: which Postfix and Dovecot are installed (or recorded with a demo sample).
- `postconf`: Postfix's defaults (`postconf -d`) and `$name` expansion.
- `delivery`: which delivery agents receive mail here.
- `addresses`: which addresses this machine owns.

May import: wizard's base modules, wizard.files, wizard.settings.
"""
