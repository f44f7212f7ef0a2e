"""Secrets, tokens, password hashes, JWT signing keys and sign-in throttling: the primitives that
keep credentials hashed or encrypted and compared in constant time."""
