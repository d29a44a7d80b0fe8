"""The first stage of intake: raw bytes (a mail, a text record) read into an InboundMessage, with the
new text of a reply told from its quoted history; in worker processes.
"""
