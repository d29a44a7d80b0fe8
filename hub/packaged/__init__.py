"""Files shipped with the package: the example configuration, the letters and the demo inbox, which live at
the top of the repository (config/, templates/) where an office reads them; pyproject.toml maps them in."""
