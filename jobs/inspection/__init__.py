"""File inspection: what is in an uploaded CSV, found fast and right (issue #3).

Plain Python, no models. The pieces, each in its own module:

- encoding.py  detect_encoding(sample: bytes) -> EncodingGuess
- dialect.py   detect_dialect(text: str) -> DialectGuess
- header.py    detect_header(rows) -> bool; normalize_names(names) -> list[str]
- records.py   iter_records(...) -> Record with line number and byte offset; RowIndex; read_page(...)
- profile.py   ColumnProfiler: type inference with conflicts, and column statistics, fed one value at a time
- scan.py      the orchestration: quick inspection from a sample, full confirmation in one streaming pass

Result types shared by all of them live in results.py.
"""
