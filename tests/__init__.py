"""The casework-hub test suite: unit/ (pure stages) and integration/ (real servers on loopback)."""
