"""Data loading, faiss search and BEIR-style evaluation."""
