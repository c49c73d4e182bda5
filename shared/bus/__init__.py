"""The event bus: CloudEvents envelope, topology, transactional outbox, relay and consumer."""
