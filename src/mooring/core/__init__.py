"""The pure core: spec -> objects, objects -> findings, usage -> costs. No I/O here."""
