"""Worker machinery: slots, the session lease, workflow-task and activity execution."""
