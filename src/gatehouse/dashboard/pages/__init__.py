"""The dashboard's pages, one module per area; each module lists its routes in `ROUTES`."""
