"""The ground every layer stands on: configuration, the database and its models, references, the clock,
errors, redaction, private files and the schema's migrations.
"""
