"""Inbound adapters: the IMAP inbox and its IDLE, a Maildir, files and mbox, Twilio polling and the
webhook; each hands raw bytes to intake and acknowledges its source only after the commit.
"""
