"""Models of Mooring's own resources, their parsing and validation, and CRD generation."""
