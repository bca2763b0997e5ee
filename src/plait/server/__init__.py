"""The orchestrator: HTTP API, history service, matching, timers, visibility."""
