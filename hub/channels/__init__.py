"""The only code that talks to the outside world: inbound sources, parsing, delivery."""
