"""The video library: records, states, processing jobs and the documented API."""
