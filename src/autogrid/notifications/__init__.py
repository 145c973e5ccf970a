"""Notifications: a user's channels (signed outbound webhooks), what each subscribes to, and a
log of what was sent to them."""
