"""Ledger tables: tamper-evident relational tables in the user's own database.

``core`` defines the hashing (pure), ``ddl`` checks the user's DDL (pure), ``verify`` recomputes a
database's ledger from plain data (pure); ``postgres`` is the PostgreSQL backend, ``database`` the
entry points that dispatch to a backend, ``anchor`` the link to an accord ledger.
"""
