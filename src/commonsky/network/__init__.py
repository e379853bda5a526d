"""Partner nodes and the transports between them: in-process bus (embedded default) and NATS JetStream."""
