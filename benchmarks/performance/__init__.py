"""Speed and scale: encoding throughput and precision, query latency, sharded encoding, serving under load,
registry metadata at scale (``encoders`` builds the synthetic encoders the first two share)."""
