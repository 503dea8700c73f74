"""The MCP face of each tool family: thin adapters from MCP arguments to the hub's cores."""
