"""External trading signals: what senders post, who may post, and the fate of each signal."""
