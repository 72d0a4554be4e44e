"""Use cases: orchestrate the store, the VoIPBin client and the AI core. Nothing here knows Lambda."""
