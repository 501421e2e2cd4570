"""Immutable documents: a write-once, versioned store anchored in the ledger, with an S3-compatible API."""
