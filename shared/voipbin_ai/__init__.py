"""VoIPBin AI backend: the shared Lambda layer. Empty on purpose: import submodules directly (cold start)."""
