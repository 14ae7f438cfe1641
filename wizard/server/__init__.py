"""The server as read: its files, its current settings, its installed versions and defaults.
"""
