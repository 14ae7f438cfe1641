"""The running daemons: the auth handshake, the live check (probe), and their logs.
"""
