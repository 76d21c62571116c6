"""The AutoKeras architecture search: its space, tuner and trial table."""
