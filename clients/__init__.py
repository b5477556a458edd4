"""LiveBridge clients: the Python async client, the terminal client and the browser client's
static files (clients/web). Written from docs/protocol.md alone; imports nothing of the server."""
