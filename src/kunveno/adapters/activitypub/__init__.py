"""ActivityPub: the vocabulary both ways, HTTP signatures, safe fetching and delivery."""
