"""Operating learnbot: HTTP probes and metrics, admin commands, previews, graceful shutdown."""
