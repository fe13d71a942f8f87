"""Producer side: validate -> normalise -> encode (HMAC tokens, Bloom filters) -> manifest."""
