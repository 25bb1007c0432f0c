"""What people read.

- `columns`: every per-layer column as data (an enum, its titles, its notation per medium)
  and each command's view of them; `escape`: what each medium must escape in user text;
- `text` (terminal tables, HTML), `markdown`, `csv`, `json`: the renderers, one per medium;
- `formats`: the `--format` choices, each command's renderer per format, where warnings go;
- `diagram` (SVG pictures), `catalogue` (`cnncalc layers`), `homework` (size, solve, check);
- `tables`: the names the CLI and the API imported before the split, kept as aliases.
"""
