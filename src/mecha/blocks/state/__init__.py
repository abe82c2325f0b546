"""State management: key/value state with ETags, TTL, transactions and queries."""
