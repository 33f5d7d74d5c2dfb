"""kopf handlers: thin translations from events to services."""
