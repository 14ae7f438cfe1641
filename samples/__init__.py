"""Stock configurations for --demo, installed as the package wizard.samples (see wizard/resources.py)."""
