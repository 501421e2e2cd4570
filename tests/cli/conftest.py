"""A real `accord serve` for end-to-end CLI tests: the ``service`` fixture of tests/service."""

from tests.service.conftest import service

__all__ = ["service"]
