"""The weekly report: the week, its figures, its text and CSV, and sending it when due to the
supervisors who receive it."""
