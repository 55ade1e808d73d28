"""Channel adapters: platform payloads <-> neutral messages."""
