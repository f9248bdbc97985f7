"""Playback events: Segment-compatible ingestion, raw events, summaries."""
