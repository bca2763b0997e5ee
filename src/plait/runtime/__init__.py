"""The deterministic workflow runtime: an event loop that advances only through history."""
