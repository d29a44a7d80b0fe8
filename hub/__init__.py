"""casework-hub: the communications hub for constituent casework."""

__version__ = "0.1.0"
