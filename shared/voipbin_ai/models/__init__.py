"""Pydantic models of VoIPBin resources and webhook events."""
