"""The case file and what changes it: case actions, assignment, views, reminder rows and their due dates,
opt-outs, and the rules a letter on a case must pass before it is queued.
"""
