"""Peer engines for ``python -m bench compare``: Temporal, DBOS and Restate.

``install`` builds their environments under ``bench/.peers/`` (git-ignored). The ``*_app``
modules run inside those environments (they must not import plait): each holds the benchmark's
workflows written for that engine and a driver speaking ``driver``'s protocol.
"""
