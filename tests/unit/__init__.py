"""Tests of pure functions: no server needed."""
