"""Private, throw-away servers (Dovecot IMAP, ...) that the test suite and benchmarks start on loopback."""
