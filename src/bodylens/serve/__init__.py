"""HTTP front end: FastAPI app factory, routes, auth, jobs."""
