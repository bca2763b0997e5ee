"""The CLI's machinery: running one command against a server, and rendering its answers."""
