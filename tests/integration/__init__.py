"""Tests against real servers on loopback: Dovecot, PostgreSQL, SMTP."""
