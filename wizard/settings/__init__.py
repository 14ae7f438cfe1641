"""The settings: what the wizard manages, declared once, and presets that carry choices.

- `model`: every field (its Postfix or Dovecot name, default, range, help), as pydantic models.
- `presets`: the TOML presets (format 1), loaded strictly and saved with comments.

May import: wizard's base modules and wizard.files (Dovecot's own default mechanisms).
"""
