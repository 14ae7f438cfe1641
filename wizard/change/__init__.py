"""A change, from the plan to the commit and the way back.

- `plan` (and `diff`): each file's new text and its diff, for the chosen settings.
- `staging`: the new files in a private copy of both trees, checked by postconf and doveconf.
- `transaction`: all files or none (lock, backup, journal, write in order, reload, recover).
- `backups` and `journal`: the backup sets; the lock and the journal of a change in progress.
- `rollback`: restoring a backup set, ordered like an apply.
- `pending`: commit confirmed (a change rolled back unless confirmed in time).
- `live`: the transaction, the live check and the automatic way back, as both faces run it.

May import: wizard's base modules, wizard.files, wizard.settings, wizard.server, wizard.rules,
wizard.daemons.
"""
