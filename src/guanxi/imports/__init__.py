"""Import of customers, orders and interactions from CSV, TSV and XLSX files (MISSION M4).

Layers, each usable on its own:

- ``readers``  open a file (encoding, delimiter, workbook) and stream ``(line, {header: value})``
- ``mapping``  map file headers (English or Chinese) to guanxi fields
- ``parsing``  dates, datetimes, amounts and quantities as they appear in real exports
- ``services`` the imports themselves: chunked, idempotent, with a row-level error report
"""
