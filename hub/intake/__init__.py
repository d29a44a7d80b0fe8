"""The inbound path, stages in order: parse, screen, identify (authenticated), thread, route, apply;
staff commands, urgency, the pipeline that runs them, the drain of a source, and quarantine."""
