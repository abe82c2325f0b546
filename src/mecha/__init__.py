"""Mecha: a distributed application runtime that speaks Dapr's API."""

__version__ = "0.1.0"
