"""The configuration files, read and edited losslessly: main.cf, master.cf, and Dovecot's
(2.3 and 2.4 dialects).
"""
