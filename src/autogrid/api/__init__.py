"""HTTP composition: shared dependencies and the /api/v1 router that mounts every domain."""
