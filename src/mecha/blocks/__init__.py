"""Building blocks: one package each, with protocols, models and a service."""
