"""The settings model (every field the wizard manages, declared once) and presets.
"""
