"""Files shipped with the package: the example configuration, the letters and the demo inbox.

They live at the top of the repository (config/, templates/letters/, templates/demo/), where an office
reads them; pyproject.toml maps them in here.
"""
