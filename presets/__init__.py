"""The shipped presets, installed as the package wizard.shipped_presets (see wizard/resources.py)."""
