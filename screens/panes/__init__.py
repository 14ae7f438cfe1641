"""The panes of the wizard's steps, one per module, each a Pane (pane.py) that the app shows in
its ContentSwitcher under the step's id: overview.py (what was found, Start, Load preset),
fields.py (a step's settings: Connection limits, Resources, SMTP AUTH), review.py (the findings
and the diffs) and apply.py (save a preset, apply, the result)."""
