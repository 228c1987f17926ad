"""EZSP on the NCP side: framing, per-version schemas and field names, handlers, dispatcher."""
