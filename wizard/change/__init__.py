"""A change: the plan and its diffs, staging, the transaction, backups, rollback, commit confirmed.
"""
