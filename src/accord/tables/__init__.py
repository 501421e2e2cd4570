"""Ledger tables: tamper-evident relational tables in the user's own database."""
