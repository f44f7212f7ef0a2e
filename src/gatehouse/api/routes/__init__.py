"""One module per wire resource; each exports `routes`."""
