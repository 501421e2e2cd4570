"""Private collections on a consortium node: sealing contents to the readers' keys, the node's
store of sealed contents, and the reads, disclosures and purges built on them.

The formats and the checks a third party needs are in :mod:`accord.core.private`.
"""
