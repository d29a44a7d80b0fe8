"""Records leaving and joining the office: a case or the whole office written out as a ZIP archive (a PDF
timeline, every message's original bytes, the files, the rows as JSON, SHA-256 checksums), such an archive
read into another office's hub, and open cases read from another system's CSV. Nothing here sends anything.

The command line calls one function of each module: `export` (hub case export, hub export), `importer` (hub
import PATH), `csv_cases` (hub import --csv)."""
