"""The controller: engine registry, per-engine queues, the interfaces and the scheduler."""
