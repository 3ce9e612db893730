"""CloudEvents SQL (CESQL v1): compile an expression once, evaluate it against many events."""
