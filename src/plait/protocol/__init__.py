"""The wire: typed messages shared by server and workers (events, commands, payloads, failures)."""
