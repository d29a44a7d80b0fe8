"""What people forget, on time: the sweep turns due reminders into letters by the office's rules
(agency follow-ups, constituent check-ins, caseworker nudges).
"""
