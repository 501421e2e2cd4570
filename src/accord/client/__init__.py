"""Clients of an accord service."""
