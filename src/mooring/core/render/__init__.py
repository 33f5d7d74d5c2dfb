"""Pure renderers: one module per kind of child object a Tenant owns."""
