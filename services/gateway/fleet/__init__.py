"""The fleet API: chargers, vehicles and sessions as resources under ``/v2`` in the ev.energy v2 style.

``router.router`` (mounted at ``/v2``) and ``router.oauth_router`` (mounted at the root, ``/o/token/``)
are what the gateway includes; everything else is the machinery behind them.
"""
