"""Outbound webhook deliveries (an outbox) and the inbound receiver for remote providers."""
