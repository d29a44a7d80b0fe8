"""The channel-independent inbound path: screen, identify, thread, route, apply — in that order."""
