"""The Textual wizard, the core's second face (the command line is the first).

app.py is the frame (step list, panes, footer, keys) and background.py the work its threads run;
panes/ holds one pane per step, dialogs/ one dialog per module; fields.py, step_list.py and
traffic_status.py are the widgets inside them; apply_progress.py is the screen a change runs on;
overview.py builds the overview's text (and never imports Textual); steps.py says which fields
each step shows.
"""
