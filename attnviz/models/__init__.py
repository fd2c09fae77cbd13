"""Model handle and loading (bundled default, hub ids, local directories)."""
