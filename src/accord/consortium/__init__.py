"""A consortium ledger: each organization runs a node plus one NATS server, and together the NATS
servers form a JetStream cluster that orders the consortium's writes.

:mod:`accord.consortium.engine` renders one organization's nats-server configuration and supervises
the process; :mod:`accord.consortium.ordering` is the asyncio client that publishes writes to the
cluster and reads back the order it decided.
"""
