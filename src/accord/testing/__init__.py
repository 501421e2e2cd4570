"""Helpers for accord's tests and benchmarks (throwaway servers); not used by the ledger itself."""
