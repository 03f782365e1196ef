"""When to tell whom, and how: deviations -> rules -> incidents -> outbox -> notifiers.

This package imports nothing from ``forecaster``; it defines the persistence protocols it needs
(``IncidentStore``, ``Outbox``) with in-memory versions.
"""
