"""The running daemons: what the wizard asks of a live Postfix and Dovecot.

- `control`: is Postfix running, Dovecot's master process, reloading each.
- `handshake`: Dovecot's auth protocol, to learn which mechanisms its auth process serves.
- `probe`: the live check after a change: SMTP to every listener, AUTH as the files say.
- `logs`: what the daemons logged since a moment, to quote them when a change breaks them.

May import: wizard's base modules, wizard.files, wizard.settings, wizard.server.
"""
