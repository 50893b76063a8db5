"""What the server, the agent and the CLI must agree on; stdlib only."""
