"""The merchant side: shops and their credentials, API keys, catalog, stock and imports.

A domain package beside ``checkout/`` (the buyer side), with the same rules: use cases
own their unit of work, no Flask or RQ, SQL only through repos/. It reuses checkout's
errors and ports; checkout never imports it.
"""
