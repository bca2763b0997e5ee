"""plait's benchmark harness: ``python -m bench core [--quick] [--repeat N]``; see README.md."""
