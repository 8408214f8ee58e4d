"""Practices (DSTs): documents, ordered groups of signature requests, tickets, audit events."""
