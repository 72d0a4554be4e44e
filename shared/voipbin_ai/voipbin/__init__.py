"""Everything that speaks VoIPBin: webhook signatures and the REST client."""
