"""Limits from the server's own traffic: what each value would have refused.

Postfix's documentation warns that the client rate and count limits must not regulate legitimate
mail, yet an admin choosing them has nothing but defaults to go on. Every server already logs the
evidence: smtpd logs each connection and, at disconnect, how many MAIL, RCPT and AUTH commands
the session made; anvil logs its peaks; smtpd logs each refusal.

- `reading`: the log sources (files plain or gzip, rotated sets, standard input, journalctl's
  JSON, the server's own log) and their lines, in every timestamp shape admins have.
- `replay`: the log replayed through anvil(8)'s own counting (fixed windows per client and
  service), for the peaks and for what a set of limits would have refused.
- `analysis`: per-client figures, the suggestions and the JSON the `traffic` command prints.
"""
