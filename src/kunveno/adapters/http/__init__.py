"""FastAPI adapter: the client API under /api/v1 and the calendar feed."""
