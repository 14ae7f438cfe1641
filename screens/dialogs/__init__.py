"""The dialogs the wizard opens over its steps, one per module: confirm.py (a yes/no question),
preset_picker.py (load a preset) and help.py (the keys and what the wizard does), each drawn in
the frame of dialog.py. Escape closes each of them."""
