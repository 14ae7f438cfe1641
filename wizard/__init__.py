"""postfix-wizard's core: settings model, lossless config editors, validation and change plans.

Nothing here imports Textual; the screens package is the only user interface.
"""

__version__ = "0.1.0"
