"""The daemon and what runs it: one cycle, the scheduler's jobs, heartbeat and status, a new office's
folder, and the wiring of sources, intake and delivery.
"""
