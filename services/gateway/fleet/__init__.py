"""The fleet API: chargers, vehicles and sessions as resources under ``/v2`` in the ev.energy v2 style.

``router.build_router(ctx)`` is what an app includes (``/v2`` and ``/o/token/``) and
``lifecycle.running(ctx)`` what its lifespan runs; everything else is the machinery behind them.
"""
