"""Outbound: outbox claims and the delivery pass; transports (SMTP, the sent Maildir, Twilio), the
sent mark, quiet hours for texts, and outage logging.
"""
