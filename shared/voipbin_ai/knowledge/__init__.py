"""The business's documents for search_knowledge: the build-time index (index.py) and the searches (search.py)."""
