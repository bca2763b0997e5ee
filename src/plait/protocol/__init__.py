"""The wire: typed messages shared by server and workers (events, commands, payloads, failures).

One module per concept, each a set of msgspec ``Struct``s that is exactly what the JSON on the
wire looks like, so that decoding validates, and the OpenAPI document is generated from them:

- :mod:`~plait.protocol.enums`: statuses, kinds, policies, error codes;
- :mod:`~plait.protocol.common`: payload envelopes, failures, retry policies, tokens, errors;
- :mod:`~plait.protocol.commands`: what a workflow task's completion asks for;
- :mod:`~plait.protocol.attributes` and :mod:`~plait.protocol.history`: history events;
- :mod:`~plait.protocol.tasks`: what a poll hands a worker;
- :mod:`~plait.protocol.requests` and :mod:`~plait.protocol.responses`: the client API;
- :mod:`~plait.protocol.sessions` and :mod:`~plait.protocol.completions`: the worker API;
- :mod:`~plait.protocol.ratelimits`: the rate-limit API;
- :mod:`~plait.protocol.tenancy`: namespaces and API keys.
"""
