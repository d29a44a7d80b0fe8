"""Letters: the office's Jinja2 templates and their rendering, a case's letter context, MIME composition,
calendar invitations, text segments, the caseworker's notices and the outbox row a letter becomes.
"""
