//! Windowed aggregation over event streams (placeholder until its issue lands).
